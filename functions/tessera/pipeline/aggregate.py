"""Step 3: gather every region's features, remove duplicates across seams, and write the outputs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tessera.detections import feature_box, feature_class, finalize_feature
from tessera.distillation.features import distill_boxes, rescore
from tessera.errors import SinkError, TesseraError
from tessera.pipeline.services import Services, assumed_session
from tessera.requests import JobSpec, OutputFormat
from tessera.requests.job import DistillationSpec, OutputSpec
from tessera.sinks import GeoParquetSink, KinesisSink, S3GeoJSONSink
from tessera.state import RequestStatus, job_status


def _sink_for(output: OutputSpec, services: Services) -> S3GeoJSONSink | GeoParquetSink | KinesisSink:
    """The sink an output names, with the output's role assumed when it gives one.

    An S3 output's ``format`` picks the GeoJSON or the GeoParquet sink.
    """
    session = services.session
    if output.role and session is not None:
        session = assumed_session(session, output.role, "output")
    if output.kind == "S3" and output.bucket:
        client = services.s3 if session is services.session else session.client("s3")
        if output.format is OutputFormat.GEOPARQUET:
            return GeoParquetSink(client, output.bucket, output.prefix)
        return S3GeoJSONSink(client, output.bucket, output.prefix)
    if output.kind == "Kinesis" and output.stream and session is not None:
        return KinesisSink(session.client("kinesis"), output.stream, output.batch_size)
    raise SinkError(f"the {output.kind} output names no bucket or stream")


class Detections:
    """A job's features held compactly: each one's JSON text, plus the box, class and score arrays that
    distillation needs. A feature becomes a dict again only while it is being written out, so a job with a
    million features fits in a Lambda's memory."""

    def __init__(self) -> None:
        self.texts: list[bytes] = []
        self.boxes: list[tuple[float, float, float, float]] = []
        self.classes: list[str] = []
        self.scores: list[float] = []

    def add(self, text: bytes) -> None:
        """Keep one feature (its GeoJSON text)."""
        feature = json.loads(text)
        iri, score = feature_class(feature)
        self.texts.append(text)
        self.boxes.append(feature_box(feature))
        self.classes.append(iri)
        self.scores.append(score)

    def distill(self, spec: DistillationSpec) -> tuple[list[int], list[float] | None]:
        """Indices kept by distillation (highest score first) and their Soft-NMS scores, if any."""
        kept, scores = distill_boxes(
            np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4),
            np.asarray(self.classes, dtype=object),
            np.asarray(self.scores, dtype=np.float64),
            spec,
        )
        return kept.tolist(), None if scores is None else scores.tolist()

    def output(
        self, kept: list[int], scores: list[float] | None, job: JobSpec, inference_dt: str
    ) -> Iterator[dict[str, Any]]:
        """The kept features, one at a time, with OSML's output properties."""
        for position, index in enumerate(kept):
            feature = json.loads(self.texts[index])
            if scores is not None:
                rescore(feature, self.classes[index], scores[position])
            yield finalize_feature(
                feature,
                position,
                job_id=job.job_id,
                inference_dt=inference_dt,
                feature_properties=job.feature_properties,
            )


def _write_outputs(
    job: JobSpec, features: Callable[[], Iterator[dict[str, Any]]], services: Services
) -> list[dict[str, str]]:
    """Write to every output; each outcome is recorded, and one failing output does not stop the others."""
    outcomes = []
    for output in job.outputs:
        try:
            location = _sink_for(output, services).write(job.job_id, features())
            outcomes.append({"kind": output.kind, "status": "SUCCESS", "location": location})
        except TesseraError as err:
            outcomes.append({"kind": output.kind, "status": "FAILED", "message": err.message})
    return outcomes


def aggregate_job(job: JobSpec, services: Services) -> dict[str, Any]:
    """Distill the job's features, write them to its outputs and record the job's final status."""
    # Only this run's regions: a re-submission with another ROI or tile size leaves older items behind.
    regions = [r for r in services.regions.list(job.image_id) if r.get("run_id", "") == job.run_id]
    detections = Detections()
    for region in regions:
        if region.get("features_key") and region.get("region_status") != RequestStatus.FAILED.value:
            for text in services.results.read_lines(region["features_key"]):
                detections.add(text)
    found = len(detections.texts)
    kept, scores = detections.distill(job.distillation)
    inference_dt = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    outcomes = _write_outputs(job, lambda: detections.output(kept, scores, job, inference_dt), services)
    counts = {s: sum(1 for r in regions if r.get("region_status") == s.value) for s in RequestStatus}
    status = job_status(
        len(regions), counts[RequestStatus.SUCCESS], counts[RequestStatus.PARTIAL], counts[RequestStatus.FAILED]
    )
    problems = [o["message"] for o in outcomes if o["status"] == "FAILED"]
    if outcomes and len(problems) == len(outcomes):
        status = RequestStatus.FAILED
    failed_regions = [r for r in regions if r.get("region_status") == RequestStatus.FAILED.value]
    message = (
        f"{len(kept)} features ({found - len(kept)} duplicates removed) from {len(regions)} regions"
        + (f"; {len(failed_regions)} regions failed: {failed_regions[0].get('message', '')}" if failed_regions else "")
        + (f"; outputs failed: {'; '.join(problems)}" if problems else "")
    )
    item = services.jobs.end(
        job.job_id,
        status,
        message,
        feature_count=len(kept),
        features_before_distillation=found,
        outputs_written=outcomes,
    )
    services.status.publish(
        status, job.job_id, message, image_id=job.image_id, processing_duration=item.get("processing_duration")
    )
    return {
        "job_id": job.job_id,
        "status": status.value,
        "feature_count": len(kept),
        "outputs": outcomes,
        "processing_duration": item.get("processing_duration"),
        "input_format": str((item.get("image") or {}).get("driver", "")).upper(),
    }
