"""Run jobs through the synthesized pipeline on this machine and collect what they produced."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local.emulator import Emulator
from infra.local.template import synthesize

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
Progress = Callable[[str, int, int], None]


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass
class JobRun:
    """One job started in the emulator, and what it ended with."""

    job_id: str
    execution_arn: str
    execution_status: str = "RUNNING"
    job: dict[str, Any] | None = None

    @property
    def job_status(self) -> str:
        """The job table's status (FAILED when the job never got a record)."""
        return str((self.job or {}).get("job_status", "FAILED"))


class LocalPipeline(AbstractContextManager["LocalPipeline"]):
    """The synthesized stack, running in the emulator.

    Example:
        >>> with LocalPipeline() as pipeline:  # doctest: +SKIP
        ...     run = pipeline.run_image(Path("scene.tif"))
        ...     pipeline.collect(run, Path("out"))
    """

    def __init__(
        self,
        template: dict[str, Any] | None = None,
        *,
        work_dir: Path | None = None,
        workers: int | None = None,
        endpoints: dict[str, str] | None = None,
    ) -> None:
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="tessera-local-"))
        self.template = template
        self.workers = workers
        self.endpoints = dict(endpoints or {})
        self.emulator: Emulator | None = None

    def __enter__(self) -> LocalPipeline:
        template = self.template or synthesize(outdir=self.work_dir / "synth")
        self.template = template
        self.emulator = Emulator(
            template, log_path=self.work_dir / "lambda.log", workers=self.workers, endpoints=self.endpoints
        ).__enter__()
        self.s3 = self.emulator.client("s3")
        self.sfn = self.emulator.client("stepfunctions")
        self.dynamodb = self.emulator.session.resource("dynamodb", endpoint_url=self.emulator.endpoint)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.emulator is not None:
            self.emulator.__exit__(*exc)

    @property
    def _em(self) -> Emulator:
        if self.emulator is None:
            raise RuntimeError("LocalPipeline must be entered (with ...) before use")
        return self.emulator

    @property
    def endpoint(self) -> str:
        """The emulator's URL (for boto3 or the AWS CLI: ``--endpoint-url``)."""
        return self._em.endpoint

    @property
    def image_bucket(self) -> str:
        """The emulated image bucket."""
        return self._em.output("ImageBucket")

    @property
    def results_bucket(self) -> str:
        """The emulated results bucket."""
        return self._em.output("ResultsBucket")

    def _table(self, output: str) -> Any:
        return self.dynamodb.Table(self._em.output(output))

    def _settings_env(self, name: str) -> str:
        functions = json.loads((self.work_dir / "functions.json").read_text())
        return str(next(iter(functions.values()))["environment"][name])

    def _start(self, put: Callable[[], str]) -> JobRun:
        """Put an object that triggers a job; return the job and the execution it started."""
        arn = self._em.state_machine_arn()
        before = {e["executionArn"] for e in self.sfn.list_executions(stateMachineArn=arn)["executions"]}
        job_id = put()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            executions = self.sfn.list_executions(stateMachineArn=arn)["executions"]
            new = [e["executionArn"] for e in executions if e["executionArn"] not in before]
            if new:
                return JobRun(job_id=job_id, execution_arn=new[0])
            time.sleep(0.05)
        raise TimeoutError("the upload did not start an execution: check the trigger rule and the key's prefix")

    def upload_image(self, image: Path, key: str | None = None) -> JobRun:
        """Upload an image under the image prefix: the S3 → EventBridge path starts a job with the defaults."""
        from tessera.requests.events import upload_job_id

        key = key or self._settings_env("TESSERA_IMAGE_PREFIX") + image.name

        def put() -> str:
            etag = self.s3.put_object(Bucket=self.image_bucket, Key=key, Body=image.read_bytes())["ETag"].strip('"')
            return upload_job_id(self.image_bucket, key, etag)

        return self._start(put)

    def submit_request(self, request: dict[str, Any], image: Path | None = None) -> JobRun:
        """Put a JSON ImageRequest under the request prefix (uploading ``image`` first, if given)."""
        request = dict(request)
        if image is not None:
            key = f"uploads/{image.name}"
            self.s3.put_object(Bucket=self.image_bucket, Key=key, Body=image.read_bytes())
            request.setdefault("imageUrls", [f"s3://{self.image_bucket}/{key}"])
        request.setdefault("jobId", f"job-{int(time.time() * 1000)}")
        request_key = f"{self._settings_env('TESSERA_REQUEST_PREFIX')}{request['jobId']}.json"

        def put() -> str:
            self.s3.put_object(Bucket=self.image_bucket, Key=request_key, Body=json.dumps(request).encode())
            return str(request["jobId"])

        return self._start(put)

    def send_message(self, request: dict[str, Any]) -> JobRun:
        """Send an OSML ImageRequest message to the request queue, as an OSML client does."""
        url = self._em.queue_url("ImageRequestQueueUrl")
        sqs = self._em.client("sqs")

        def put() -> str:
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(request))
            return str(request.get("jobId", "unknown"))

        return self._start(put)

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The job's item in the job table."""
        item = self._table("JobTable").get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def regions(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        """The job's items in the region table."""
        from boto3.dynamodb.conditions import Key

        table = self._table("RegionTable")
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("image_id").eq(job.get("image_id", ""))}
        while True:
            page = table.query(**kwargs)
            items.extend(_plain(i) for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def wait(self, run: JobRun, progress: Progress | None = None, timeout: float = 3600) -> JobRun:
        """Wait for the execution to end, reporting (status, regions done, regions total) as it goes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.sfn.describe_execution(executionArn=run.execution_arn)["status"]
            job = self.job(run.job_id) or {}
            if progress is not None:
                done = sum(int(job.get(k, 0)) for k in ("region_success", "region_partial", "region_error"))
                progress(str(job.get("job_status", "STARTING")), done, int(job.get("region_count", 0)))
            if status in TERMINAL:
                run.execution_status, run.job = status, self.job(run.job_id)
                return run
            time.sleep(0.2)
        raise TimeoutError(f"job {run.job_id} did not finish within {timeout:.0f} s")

    def _output_body(self, run: JobRun, suffix: str) -> bytes | None:
        """The object written by the job's first successful S3 output whose key ends with ``suffix``."""
        for output in (run.job or {}).get("outputs_written") or []:
            location = str(output.get("location", ""))
            if output.get("status") == "SUCCESS" and location.startswith("s3://") and location.endswith(suffix):
                bucket, _, key = location.removeprefix("s3://").partition("/")
                return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return None

    def features(self, run: JobRun) -> dict[str, Any] | None:
        """The job's FeatureCollection from its first GeoJSON S3 output that succeeded."""
        body = self._output_body(run, ".geojson")
        return None if body is None else dict(json.loads(body))

    def history(self, run: JobRun) -> list[dict[str, Any]]:
        """The execution's full event history."""
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": run.execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def collect(self, run: JobRun, out: Path) -> dict[str, Path]:
        """Write the features, the job record, the region records and the execution history into ``out``.

        A GeoParquet output is copied too (``<jobId>.parquet``, key ``geoparquet``).
        """
        out.mkdir(parents=True, exist_ok=True)
        job = run.job or self.job(run.job_id) or {"job_id": run.job_id, "job_status": "FAILED"}
        description = self.sfn.describe_execution(executionArn=run.execution_arn)
        files = {
            "features": out / f"{run.job_id}.geojson",
            "job": out / "job.json",
            "regions": out / "regions.json",
            "execution": out / "execution.json",
        }
        features = self.features(run) or {"type": "FeatureCollection", "features": []}
        files["features"].write_text(json.dumps(features))
        files["job"].write_text(json.dumps(job, indent=2, default=str))
        files["regions"].write_text(json.dumps(self.regions(job), indent=2, default=str))
        files["execution"].write_text(
            json.dumps({"description": description, "history": self.history(run)}, indent=2, default=str)
        )
        geoparquet = self._output_body(run, ".parquet")
        if geoparquet is not None:
            files["geoparquet"] = out / f"{run.job_id}.parquet"
            files["geoparquet"].write_bytes(geoparquet)
        return files
