"""The tile server API: OSML's viewpoint routes on Powertools' resolver, served by one Lambda behind an HTTP API.

Routes answer under ``/viewpoints`` and, for OSML clients, under ``/latest/viewpoints`` and
``/v1_0/viewpoints``. Handlers parse, call the viewpoint service or the renderer, and shape the reply;
errors become JSON ``{"message": ...}`` with a status that says what happened (404 unknown, 409 not
ready or failed, 413 too large, 400/422 bad input), never a stack trace.

Route functions carry no return annotation on purpose: with validation on, Powertools validates and
JSON-serializes the body of any annotated return, which would corrupt binary image bodies.
"""

from __future__ import annotations

import json
import re
import time
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from tessera.api import maps
from tessera.api.caching import cache_headers, etag, not_modified
from tessera.errors import (
    ImageReadError,
    InvalidRequestError,
    TesseraError,
    TransientStorageError,
    ViewpointNotFoundError,
    ViewpointNotReadyError,
    ViewpointStateError,
)
from tessera.geo.sensor_models import elevation_options
from tessera.settings import ViewpointSettings
from tessera.tiles import grid
from tessera.tiles.formats import parse_format
from tessera.tiles.ranges import parse_rescale
from tessera.tiles.readers import open_reader
from tessera.tiles.render import (
    RESAMPLING,
    NoGeoreferencingError,
    Rendered,
    ResponseTooLargeError,
    Style,
    parse_compression,
    parse_indexes,
    render_map_tile,
    render_window,
)
from tessera.viewpoints.models import RangeAdjustment, ViewpointCreate, ViewpointUpdate
from tessera.viewpoints.service import ViewpointService

logger = Logger(service="tessera-tiles")
app = APIGatewayHttpResolver(enable_validation=True, strip_prefixes=["/latest", "/v1_0"])
STATIC = Path(__file__).parent / "static"
#: How long a warm Lambda reuses a viewpoint's item before reading the table again (seconds).
ITEM_TTL_S = 2.0
_items: dict[str, tuple[float, dict[str, Any]]] = {}


@cache
def service() -> ViewpointService:
    """The AWS-backed viewpoint service, created on the first request (cold start)."""
    import boto3

    from tessera.state.viewpoints import ViewpointTable

    settings = ViewpointSettings.from_env()
    session = boto3.session.Session()
    clients: dict[str, Any] = {}

    def start(viewpoint_id: str, payload: dict[str, Any]) -> str:
        name = f"{viewpoint_id[:60]}-{int(time.time() * 1000)}"
        if "stepfunctions" not in clients:  # only creating a viewpoint needs it: not on the cold path
            clients["stepfunctions"] = session.client("stepfunctions")
        response = clients["stepfunctions"].start_execution(
            stateMachineArn=settings.ingest_state_machine_arn, name=name, input=json.dumps(payload)
        )
        return str(response["executionArn"])

    table = ViewpointTable(session.resource("dynamodb").Table(settings.viewpoint_table), settings.retention_days)
    return ViewpointService(settings, table, session.client("s3"), start if settings.ingest_state_machine_arn else None)


def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer one HTTP API event. HEAD is answered as GET without a body (headers, ETag and status kept)."""
    method = event.get("requestContext", {}).get("http", {}).get("method")
    if method != "HEAD":
        return app.resolve(event, context)
    as_get = {**event, "requestContext": {**event["requestContext"], "http": {**event["requestContext"]["http"]}}}
    as_get["requestContext"]["http"]["method"] = "GET"
    reply = app.resolve(as_get, context)
    return {**reply, "body": "", "isBase64Encoded": False}


# -- errors ---------------------------------------------------------------------------------------------
def _error(status: int, message: str, **extra: Any) -> Response:
    return Response(status, "application/json", json.dumps({"message": message, **extra}))


@app.exception_handler(ViewpointNotFoundError)
def _not_found(err: ViewpointNotFoundError) -> Response:
    return _error(404, err.message)


@app.exception_handler(grid.TileOutsideImageError)
def _outside(err: grid.TileOutsideImageError) -> Response:
    return _error(404, err.message)


@app.exception_handler(ViewpointNotReadyError)
def _not_ready(err: ViewpointNotReadyError) -> Response:
    return _error(409, err.message, viewpoint_status=err.status)


@app.exception_handler([ViewpointStateError, NoGeoreferencingError])
def _conflict(err: TesseraError) -> Response:
    return _error(409, err.message)


@app.exception_handler(InvalidRequestError)
def _invalid(err: InvalidRequestError) -> Response:
    return _error(400, err.message, field=err.field)


@app.exception_handler(ResponseTooLargeError)
def _too_large(err: ResponseTooLargeError) -> Response:
    return _error(413, err.message)


@app.exception_handler(TransientStorageError)
def _unavailable(err: TransientStorageError) -> Response:
    return _error(503, err.message)


@app.exception_handler(ImageReadError)
def _unreadable(err: ImageReadError) -> Response:
    """A COG that cannot be read: most often deleted (or re-ingested) by another Lambda since this one
    cached the viewpoint, so look again before calling it a server error."""
    match = re.match(r"^/(?:latest/|v1_0/)?viewpoints/([^/]+)/", app.current_event.raw_path)
    if match:
        _forget(match.group(1))
        try:
            service().require_ready(match.group(1))
        except ViewpointNotFoundError as gone:
            return _not_found(gone)
        except ViewpointNotReadyError as pending:
            return _not_ready(pending)
    return _server_error(err)


@app.exception_handler(TesseraError)
def _server_error(err: TesseraError) -> Response:
    logger.error("request failed", extra={"error": err.message})
    return _error(500, err.message)


@app.not_found
def _no_route(_: Exception) -> Response:
    return _error(404, f"no route {app.current_event.request_context.http.method} {app.current_event.raw_path}")


# -- helpers --------------------------------------------------------------------------------------------
def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, "application/json", json.dumps(body, default=str), headers=headers)


def _ready_item(viewpoint_id: str) -> dict[str, Any]:
    """The viewpoint's item if it is READY, reusing a recent read in a warm Lambda (tiles come in bursts)."""
    now = time.monotonic()
    cached = _items.get(viewpoint_id)
    if cached and now - cached[0] < ITEM_TTL_S:
        return cached[1]
    item = service().require_ready(viewpoint_id)
    if len(_items) > 1024:
        _items.clear()
    _items[viewpoint_id] = (now, item)
    return item


def _forget(viewpoint_id: str) -> None:
    _items.pop(viewpoint_id, None)


def _public(item: dict[str, Any]) -> dict[str, Any]:
    """The viewpoint as OSML's ViewpointModel (plus our status details)."""
    return {k: v for k, v in item.items() if k not in {"image"}}


def _conditional(item: dict[str, Any], produce: Any) -> Response:
    """Answer 304 if the client has this version, else produce the response with ETag and Cache-Control."""
    event = app.current_event
    tag = etag(item, event.raw_path, event.query_string_parameters)
    headers = cache_headers(tag, service().settings.cache_max_age)
    if not_modified(event.headers.get("if-none-match"), tag):
        return Response(304, headers=headers)
    response: Response = produce()
    response.headers.update(headers)
    return response


def _pixels(rendered: Rendered) -> Response:
    if rendered.body is None:
        return Response(204)
    return Response(200, rendered.media_type, rendered.body)


def _style(item: dict[str, Any], fmt: str, query: dict[str, str | None]) -> Style:
    image = item.get("image", {})
    adjustment = query.get("range_adjustment") or item.get("range_adjustment") or RangeAdjustment.NONE.value
    try:
        range_adjustment = RangeAdjustment(str(adjustment).upper())
    except ValueError:
        raise InvalidRequestError(
            f"range_adjustment '{adjustment}' must be one of {[r.value for r in RangeAdjustment]}", "range_adjustment"
        ) from None
    resampling = (query.get("resampling") or "nearest").lower()
    if resampling not in RESAMPLING:
        raise InvalidRequestError(f"resampling '{resampling}' must be one of {list(RESAMPLING)}", "resampling")
    image_format = parse_format(fmt)
    return Style(
        image_format=image_format,
        range_adjustment=range_adjustment,
        statistics=service().document(item, "statistics")["image_statistics"],
        indexes=parse_indexes(query.get("bidx"), int(image.get("band_count", 1))),
        rescale=parse_rescale(query.get("rescale")),
        resampling=resampling,
        compression=parse_compression(query.get("compression"), image_format),
    )


def _split(name: str, what: str) -> tuple[str, str]:
    """``"12.png"`` → ``("12", "png")``."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or not stem:
        raise InvalidRequestError(f"{what} '{name}' needs a format extension, e.g. {what}.png", "format")
    return stem, fmt


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidRequestError(f"{what} '{text}' must be an integer", what) from None


def _query() -> dict[str, str | None]:
    return dict(app.current_event.query_string_parameters or {})


# -- viewpoint CRUD -------------------------------------------------------------------------------------
@app.get("/viewpoints", summary="List viewpoints (paginated)")
def list_viewpoints(
    max_results: Annotated[int, Query(ge=1, le=1000)] = 100, next_token: Annotated[str | None, Query()] = None
):
    """One page of viewpoints and the token of the next one."""
    try:
        items, token = service().table.list(max_results, next_token)
    except ValueError as err:
        raise InvalidRequestError(str(err), "next_token") from None
    return _json({"items": [_public(i) for i in items], "next_token": token})


@app.post("/viewpoints", summary="Create a viewpoint and start its ingest")
def create_viewpoint(request: ViewpointCreate):
    """201 with the new viewpoint; 202 with the existing one when the id is taken (idempotent)."""
    item, created = service().create(request)
    return _json(_public(item), 201 if created else 202)


@app.put("/viewpoints", summary="Change a viewpoint's name, tile size or range adjustment")
def update_viewpoint(update: ViewpointUpdate):
    """The updated viewpoint (its version, and so every ETag, changes)."""
    _forget(update.viewpoint_id)
    return _json(_public(service().table.update_display(update)))


@app.get("/viewpoints/<viewpoint_id>", summary="Get a viewpoint")
def get_viewpoint(viewpoint_id: str):
    """The viewpoint with its status, error message, timings and image summary."""
    return _json(service().table.require(viewpoint_id))


@app.delete("/viewpoints/<viewpoint_id>", summary="Delete a viewpoint and its artifacts")
def delete_viewpoint(viewpoint_id: str):
    """204; the COG and sidecars are deleted with the item."""
    _forget(viewpoint_id)
    service().delete(viewpoint_id)
    return Response(204)


# -- documents ------------------------------------------------------------------------------------------
def _document(viewpoint_id: str, name: str, media_type: str = "application/json") -> Response:
    item = _ready_item(viewpoint_id)
    return _conditional(
        item, lambda: Response(200, media_type, json.dumps(service().document(item, name), default=str))
    )


@app.get("/viewpoints/<viewpoint_id>/image/metadata", summary="Image metadata (GDAL/NITF header fields)")
def image_metadata(viewpoint_id: str):
    """OSML's ``{"metadata": {...}}`` plus image structure, RPCs and shape."""
    return _document(viewpoint_id, "metadata")


@app.get("/viewpoints/<viewpoint_id>/image/bounds", summary="Image bounds in pixels")
def image_bounds(viewpoint_id: str):
    """``{"bounds": [0, 0, width, height]}``."""
    return _document(viewpoint_id, "bounds")


@app.get("/viewpoints/<viewpoint_id>/image/info", summary="Image footprint (GeoJSON, through the sensor model)")
def image_info(viewpoint_id: str):
    """A FeatureCollection with the footprint polygon (RPC footprints follow the sensor model)."""
    return _document(viewpoint_id, "info", "application/geo+json")


@app.get("/viewpoints/<viewpoint_id>/image/statistics", summary="Per-band statistics at full resolution")
def image_statistics(viewpoint_id: str):
    """``{"image_statistics": {"b1": {min, max, mean, std, percentile_2, percentile_98, histogram, dra...}}}``."""
    return _document(viewpoint_id, "statistics")


# -- pixels ---------------------------------------------------------------------------------------------
def _window_response(item: dict[str, Any], window: grid.SourceWindow, fmt: str, pad: int | None = None) -> Response:
    def produce() -> Response:
        style = _style(item, fmt, _query())
        with open_reader(service().cog_path(item), int(item.get("version", 0))) as reader:
            size = (pad, pad) if pad else None
            return _pixels(render_window(reader, window, style, tile_size=size))  # type: ignore[arg-type]

    return _conditional(item, produce)


@app.get("/viewpoints/<viewpoint_id>/image/tiles/<z>/<x>/<tile>", summary="Image tile in the pixel grid")
def image_tile(viewpoint_id: str, z: str, x: str, tile: str):
    """Tile ``z/x/y.fmt``: z=0 is full resolution, each z halves it (OSML); outside the image → 404."""
    y, fmt = _split(tile, "y")
    parse_format(fmt)
    item = _ready_item(viewpoint_id)
    image = item["image"]
    tile_size = int(item.get("tile_size", 512))
    window, size = grid.image_tile(
        image["width"], image["height"], tile_size, _int(z, "z"), _int(x, "x"), _int(y, "y")
    )
    return _window_response(item, window, fmt, pad=size)


@app.get("/viewpoints/<viewpoint_id>/image/crop/<crop>", summary="Crop in pixel bounds")
def image_crop(
    viewpoint_id: str,
    crop: str,
    width: Annotated[int | None, Query(ge=1, le=16384)] = None,
    height: Annotated[int | None, Query(ge=1, le=16384)] = None,
):
    """``crop/min_x,min_y,max_x,max_y.fmt``, optionally resampled to ``width``/``height``."""
    bounds_text, fmt = _split(crop, "crop")
    parse_format(fmt)
    parts = bounds_text.split(",")
    if len(parts) != 4:
        raise InvalidRequestError(f"crop '{bounds_text}' must be min_x,min_y,max_x,max_y in pixels", "crop")
    bounds = tuple(_int(p, "crop") for p in parts)
    item = _ready_item(viewpoint_id)
    window = grid.crop_window(item["image"]["width"], item["image"]["height"], bounds, width, height)  # type: ignore[arg-type]
    return _window_response(item, window, fmt)


@app.get("/viewpoints/<viewpoint_id>/image/<preview>", summary="Preview of the whole image")
def image_preview(
    viewpoint_id: str,
    preview: str,
    max_size: Annotated[int, Query(ge=1, le=4096)] = 1024,
    width: Annotated[int | None, Query(ge=1, le=16384)] = None,
    height: Annotated[int | None, Query(ge=1, le=16384)] = None,
):
    """``preview.fmt``: the whole image, ``max_size`` on its longer side unless width/height are given."""
    stem, fmt = _split(preview, "preview")
    if stem != "preview":
        raise ViewpointNotFoundError(f"no image document '{preview}'; try preview.png, metadata, info, bounds")
    parse_format(fmt)
    item = _ready_item(viewpoint_id)
    window = grid.preview_window(item["image"]["width"], item["image"]["height"], max_size, width, height)
    return _window_response(item, window, fmt)


@app.get("/viewpoints/<viewpoint_id>/map/tiles", summary="Tile matrix sets offered (OGC TileSetList)")
def map_tile_sets(viewpoint_id: str):
    """WebMercatorQuad (256 px), WebMercatorQuadx2 (512 px) and WorldCRS84Quad."""
    _ready_item(viewpoint_id)
    return _json(maps.tile_set_list(app.current_event.raw_path))


def _bounds(item: dict[str, Any]) -> tuple[float, float, float, float]:
    bounds = maps.footprint_bounds(service().document(item, "info"))
    if bounds is None:
        raise NoGeoreferencingError(
            f"viewpoint {item['viewpoint_id']} has no georeferencing, so it has no map tiles; use its image tiles"
        )
    return bounds


@app.get("/viewpoints/<viewpoint_id>/map/tiles/<tms>", summary="Tile matrix set limits (OGC TileSetMetadata)")
def map_tile_set(viewpoint_id: str, tms: str):
    """Limits per zoom, bounding box and centre of the viewpoint in one tile matrix set."""
    item = _ready_item(viewpoint_id)
    base = app.current_event.raw_path.rsplit("/", 1)[0]
    image = item["image"]
    return _json(maps.tile_set(tms, _bounds(item), image["width"], image["height"], base))


@app.get("/viewpoints/<viewpoint_id>/map/tiles/<tms>/<z>/<row>/<tile>", summary="Map tile (OGC order z/row/col)")
def map_tile(viewpoint_id: str, tms: str, z: str, row: str, tile: str):
    """A map tile warped through the image's geotransform, RPCs or GCPs; 204 outside the footprint."""
    col, fmt = _split(tile, "col")
    parse_format(fmt)
    matrix, size = maps.tile_matrix_set(tms)
    zoom, y, x = _int(z, "z"), _int(row, "row"), _int(col, "col")
    if app.current_event.get_query_string_value("invert_y", "false").lower() == "true":
        y = 2**zoom - 1 - y
    item = _ready_item(viewpoint_id)
    settings = service().settings
    dem = elevation_options(settings.elevation_model).get("dem")
    warp = {"RPC_DEM": dem} if dem else {}

    def produce() -> Response:
        style = _style(item, fmt, _query())
        with open_reader(service().cog_path(item), int(item.get("version", 0))) as reader:
            return _pixels(render_map_tile(reader, matrix, zoom, x, y, size, style, warp))  # type: ignore[arg-type]

    return _conditional(item, produce)


# -- service routes -------------------------------------------------------------------------------------
@app.get("/ping", summary="Health check")
def ping():
    """200 when the function runs."""
    return _json({"status": "ok"})


@app.get("/openapi.json", summary="This API's OpenAPI document")
def openapi():
    """The OpenAPI 3 document of every route above."""
    schema = app.get_openapi_json_schema(title="Tessera tile server", version="1.0.0")
    return Response(200, "application/json", schema)


VIEWER_FILES = {
    "viewer.html": "text/html; charset=utf-8",
    "viewer.js": "text/javascript",
    "viewer.css": "text/css",
    "leaflet.js": "text/javascript",
    "leaflet.css": "text/css",
}


@app.get("/viewer", summary="The viewer page")
def viewer():
    """A Leaflet page showing a viewpoint's tiles with detections overlaid (``?viewpoint=ID&features=URL``)."""
    return viewer_file("viewer.html")


@app.get("/viewer/<name>", summary="The viewer's scripts and styles (vendored Leaflet, no CDN)")
def viewer_file(name: str):
    """One of the viewer's static files."""
    path = STATIC / name if name in VIEWER_FILES else None
    if path is None or not path.is_file():
        hint = "; run `make viewer` to vendor Leaflet" if "leaflet" in name else ""
        return _error(404, f"no viewer file {name}{hint}")
    body = path.read_bytes()
    return Response(200, VIEWER_FILES[name], body.decode(), headers={"Cache-Control": "public, max-age=300"})
