"""Step 3: gather every region's features, remove duplicates across seams, and write the outputs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tessera.detections import finalize_features
from tessera.distillation.features import distill_features
from tessera.errors import SinkError, TesseraError
from tessera.pipeline.services import Services, assumed_session
from tessera.requests import JobSpec
from tessera.requests.job import OutputSpec
from tessera.sinks import KinesisSink, S3GeoJSONSink
from tessera.state import RequestStatus, job_status


def _sink_for(output: OutputSpec, services: Services) -> S3GeoJSONSink | KinesisSink:
    """The sink an output names, with the output's role assumed when it gives one."""
    session = services.session
    if output.role and session is not None:
        session = assumed_session(session, output.role, "output")
    if output.kind == "S3" and output.bucket:
        client = services.s3 if session is services.session else session.client("s3")
        return S3GeoJSONSink(client, output.bucket, output.prefix)
    if output.kind == "Kinesis" and output.stream and session is not None:
        return KinesisSink(session.client("kinesis"), output.stream, output.batch_size)
    raise SinkError(f"the {output.kind} output names no bucket or stream")


def _write_outputs(job: JobSpec, features: list[dict[str, Any]], services: Services) -> list[dict[str, str]]:
    """Write to every output; each outcome is recorded, and one failing output does not stop the others."""
    outcomes = []
    for output in job.outputs:
        try:
            location = _sink_for(output, services).write(job.job_id, features)
            outcomes.append({"kind": output.kind, "status": "SUCCESS", "location": location})
        except TesseraError as err:
            outcomes.append({"kind": output.kind, "status": "FAILED", "message": err.message})
    return outcomes


def aggregate_job(job: JobSpec, services: Services) -> dict[str, Any]:
    """Distill the job's features, write them to its outputs and record the job's final status."""
    # Only this run's regions: a re-submission with another ROI or tile size leaves older items behind.
    regions = [r for r in services.regions.list(job.image_id) if r.get("run_id", "") == job.run_id]
    features: list[dict[str, Any]] = []
    for region in regions:
        if region.get("features_key") and region.get("region_status") != RequestStatus.FAILED.value:
            features.extend(services.results.read(region["features_key"]))
    found = len(features)
    features = distill_features(features, job.distillation)
    finalize_features(
        features,
        job_id=job.job_id,
        inference_dt=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        feature_properties=job.feature_properties,
    )
    outcomes = _write_outputs(job, features, services)
    counts = {s: sum(1 for r in regions if r.get("region_status") == s.value) for s in RequestStatus}
    status = job_status(
        len(regions), counts[RequestStatus.SUCCESS], counts[RequestStatus.PARTIAL], counts[RequestStatus.FAILED]
    )
    problems = [o["message"] for o in outcomes if o["status"] == "FAILED"]
    if outcomes and len(problems) == len(outcomes):
        status = RequestStatus.FAILED
    failed_regions = [r for r in regions if r.get("region_status") == RequestStatus.FAILED.value]
    message = (
        f"{len(features)} features ({found - len(features)} duplicates removed) from {len(regions)} regions"
        + (f"; {len(failed_regions)} regions failed: {failed_regions[0].get('message', '')}" if failed_regions else "")
        + (f"; outputs failed: {'; '.join(problems)}" if problems else "")
    )
    item = services.jobs.end(
        job.job_id,
        status,
        message,
        feature_count=len(features),
        features_before_distillation=found,
        outputs_written=outcomes,
    )
    services.status.publish(
        status, job.job_id, message, image_id=job.image_id, processing_duration=item.get("processing_duration")
    )
    return {
        "job_id": job.job_id,
        "status": status.value,
        "feature_count": len(features),
        "outputs": outcomes,
        "processing_duration": item.get("processing_duration"),
        "input_format": str((item.get("image") or {}).get("driver", "")).upper(),
    }
