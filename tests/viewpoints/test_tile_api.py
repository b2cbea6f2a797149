"""The tile API through its Lambda handler (HTTP API events), against a moto server."""

from __future__ import annotations

import io
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile
from rasterio.windows import Window
from rio_tiler.io import Reader

from tessera.api import app as api
from tessera.viewpoints.models import ViewpointCreate
from tests.viewpoints.conftest import SOURCE_BUCKET, TileServer

LANDSAT = "/viewpoints/api-landsat"


@pytest.fixture(scope="module")
def landsat(tile_server: TileServer, rgb_byte: Path) -> dict:
    return tile_server.ingest(rgb_byte, "api-landsat", tile_size=256)


def _decode(body: bytes) -> tuple[np.ndarray, np.ndarray | None, str]:
    with MemoryFile(io.BytesIO(body)) as memfile, memfile.open() as image:
        data = image.read()
        return data, None, image.driver


def test_full_resolution_tile_matches_rio_tiler(tile_server: TileServer, landsat: dict, rgb_byte: Path) -> None:
    reply = tile_server.get(f"{LANDSAT}/image/tiles/0/1/1.tif")
    assert reply.status == 200 and reply.headers["content-type"] == "image/tiff"
    pixels, _, driver = _decode(reply.body)
    assert driver == "GTiff"
    with Reader(str(rgb_byte)) as reader:
        expected = reader.read(window=Window(256, 256, 256, 256))
    assert np.array_equal(pixels[:3], expected.data)
    assert np.array_equal(pixels[3] > 0, ~np.ma.getmaskarray(expected.array).all(axis=0))  # mask as alpha


def test_zoom_halves_the_resolution_and_edge_tiles_are_padded(tile_server: TileServer, landsat: dict) -> None:
    # 791 x 718 at 256 px tiles: z=2 is one tile of 1024 source pixels, the image in its upper-left
    reply = tile_server.get(f"{LANDSAT}/image/tiles/2/0/0.png")
    assert reply.status == 200 and reply.headers["content-type"] == "image/png"
    pixels, _, _ = _decode(reply.body)
    assert pixels.shape == (4, 256, 256)
    alpha = pixels[3]
    assert alpha[:179, :197].any() and not alpha[:, 199:].any() and not alpha[181:, :].any()


def test_tiles_outside_the_image_are_404_with_the_valid_range(tile_server: TileServer, landsat: dict) -> None:
    reply = tile_server.get(f"{LANDSAT}/image/tiles/0/4/0.png")
    assert reply.status == 404
    assert "z goes from 0 (full resolution) to 2" in reply.json()["message"] and "x < 4" in reply.json()["message"]
    assert tile_server.get(f"{LANDSAT}/image/tiles/3/0/0.png").status == 404
    assert tile_server.get(f"{LANDSAT}/image/tiles/-1/0/0.png").status == 400


@pytest.mark.parametrize(
    ("fmt", "media_type", "magic"),
    [
        ("png", "image/png", b"\x89PNG"),
        ("jpeg", "image/jpeg", b"\xff\xd8\xff"),
        ("webp", "image/webp", b"RIFF"),
        ("tiff", "image/tiff", b"II*\x00"),
        ("ntf", "image/nitf", b"NITF02.10"),
    ],
)
def test_every_format_is_labelled_correctly(
    tile_server: TileServer, landsat: dict, fmt: str, media_type: str, magic: bytes
) -> None:
    reply = tile_server.get(f"{LANDSAT}/image/tiles/1/0/0.{fmt}")
    assert reply.status == 200 and reply.headers["content-type"] == media_type
    assert reply.body.startswith(magic)


def test_nitf_tiles_carry_their_corner_coordinates(tile_server: TileServer, landsat: dict) -> None:
    reply = tile_server.get(f"{LANDSAT}/image/tiles/0/0/0.ntf")
    with MemoryFile(reply.body) as memfile, memfile.open() as tile:
        assert tile.tags()["NITF_ICORDS"] == "G" and len(tile.tags()["NITF_IGEOLO"]) == 60


def test_unknown_format_is_a_clear_400(tile_server: TileServer, landsat: dict) -> None:
    reply = tile_server.get(f"{LANDSAT}/image/tiles/0/0/0.bmp")
    assert reply.status == 400 and "format 'bmp' is not supported" in reply.json()["message"]


def test_range_adjustment_uses_whole_image_statistics(tile_server: TileServer, data_dir: Path) -> None:
    tile_server.ingest(data_dir / "RGBA.uint16.tif", "api-rgba16", range_adjustment="DRA")
    stats = tile_server.get("/viewpoints/api-rgba16/image/statistics").json()["image_statistics"]
    dra = tile_server.get("/viewpoints/api-rgba16/image/tiles/0/0/0.png")
    none = tile_server.get("/viewpoints/api-rgba16/image/tiles/0/0/0.png", range_adjustment="NONE")
    dra_pixels, _, _ = _decode(dra.body)
    none_pixels, _, _ = _decode(none.body)
    assert dra_pixels.dtype == np.uint8 and none_pixels.dtype == np.uint16  # NONE keeps 16 bits in PNG
    with rasterio.open(data_dir / "RGBA.uint16.tif") as source:
        raw = source.read(1, window=Window(0, 0, 512, 411))
    low, high = stats["b1"]["dra"]
    if not high > low:  # this sample's band is constant: it shows as mid-grey
        low, high = low - 0.5, low + 0.5
    valid = dra_pixels[3, :411, :] > 0
    expected = np.clip((raw.astype(float) - low) / (high - low) * 255, 0, 255)
    assert np.abs(dra_pixels[0, :411, :][valid].astype(float) - expected[valid]).max() <= 1.0


def test_etag_and_304(tile_server: TileServer, landsat: dict) -> None:
    path = f"{LANDSAT}/image/tiles/0/0/0.png"
    first = tile_server.get(path)
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=600"
    again = tile_server.request("GET", path, headers={"If-None-Match": tag})
    assert again.status == 304 and again.body == b"" and again.headers["etag"] == tag
    other = tile_server.get(path, range_adjustment="MINMAX")
    assert other.headers["etag"] != tag


def test_updating_a_viewpoint_changes_its_etags(tile_server: TileServer, landsat: dict) -> None:
    path = f"{LANDSAT}/image/bounds"
    before = tile_server.get(path).headers["etag"]
    reply = tile_server.request("PUT", "/viewpoints", body={"viewpoint_id": "api-landsat", "viewpoint_name": "renamed"})
    assert reply.status == 200 and reply.json()["viewpoint_name"] == "renamed"
    api._items.clear()
    assert tile_server.get(path).headers["etag"] != before


def test_too_large_is_413_with_advice(tile_server: TileServer, landsat: dict) -> None:
    reply = tile_server.get(f"{LANDSAT}/image/crop/0,0,700,700.tif", width="8000", height="8000")
    assert reply.status == 413 and "ask for a smaller width/height" in reply.json()["message"]


def test_crop_and_preview(tile_server: TileServer, landsat: dict, rgb_byte: Path) -> None:
    crop = tile_server.get(f"{LANDSAT}/image/crop/100,50,300,150.tif")
    pixels, _, _ = _decode(crop.body)
    with rasterio.open(rgb_byte) as source:
        assert np.array_equal(pixels[:3], source.read(window=Window(100, 50, 200, 100)))
    preview = tile_server.get(f"{LANDSAT}/image/preview.png", max_size="200")
    pixels, _, _ = _decode(preview.body)
    assert pixels.shape[1:] == (182, 200)


def test_documents(tile_server: TileServer, landsat: dict) -> None:
    assert tile_server.get(f"{LANDSAT}/image/bounds").json() == {"bounds": [0, 0, 791, 718]}
    info = tile_server.get(f"{LANDSAT}/image/info")
    assert info.headers["content-type"] == "application/geo+json" and info.json()["type"] == "FeatureCollection"
    assert "NITF" not in tile_server.get(f"{LANDSAT}/image/metadata").json()["driver"]
    assert tile_server.get(f"/latest{LANDSAT}/image/bounds").status == 200  # OSML's versioned prefix


def test_map_tiles_match_rio_tiler_and_204_outside(tile_server: TileServer, landsat: dict) -> None:
    tile_sets = tile_server.get(f"{LANDSAT}/map/tiles").json()["tilesets"]
    assert {t["links"][0]["href"].rsplit("/", 1)[1] for t in tile_sets} >= {"WebMercatorQuad", "WebMercatorQuadx2"}
    tile_set = tile_server.get(f"{LANDSAT}/map/tiles/WebMercatorQuad").json()
    z = int(tile_set["tileMatrixSetLimits"][-1]["tileMatrix"])
    lon, lat = tile_set["centerPoint"]["coordinates"]
    centre = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    row, col = centre.y, centre.x
    reply = tile_server.get(f"{LANDSAT}/map/tiles/WebMercatorQuad/{z}/{row}/{col}.tif")
    assert reply.status == 200
    pixels, _, _ = _decode(reply.body)
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), Reader(tile_server.service.cog_path(landsat)) as r:
        expected = r.tile(col, row, z)
    assert np.array_equal(pixels[:3], expected.data)
    assert tile_server.get(f"{LANDSAT}/map/tiles/WebMercatorQuad/{z}/0/0.png").status == 204
    assert tile_server.get(f"{LANDSAT}/map/tiles/NoSuchMatrix/1/0/0.png").status == 400


def test_rpc_viewpoint_has_map_tiles_through_its_rpcs(tile_server: TileServer, data_dir: Path, tmp_path: Path) -> None:
    single = tmp_path / "rpc.tif"
    with rasterio.open(data_dir / "RGB.byte.rpc.vrt") as vrt:
        rasterio.shutil.copy(vrt, single, driver="GTiff")
    tile_server.ingest(single, "api-rpc")
    metadata = tile_server.get("/viewpoints/api-rpc/map/tiles/WebMercatorQuad").json()
    west, south = metadata["boundingBox"]["lowerLeft"]
    east, north = metadata["boundingBox"]["upperRight"]
    z = int(metadata["centerPoint"]["tileMatrix"])
    tile = morecantile.tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, z)
    reply = tile_server.get(f"/viewpoints/api-rpc/map/tiles/WebMercatorQuad/{z}/{tile.y}/{tile.x}.png")
    assert reply.status == 200
    pixels, _, _ = _decode(reply.body)
    assert pixels[3].mean() > 0 and pixels[:3].max() > 0


def test_status_codes_for_missing_pending_and_failed(tile_server: TileServer) -> None:
    assert tile_server.get("/viewpoints/nope/image/tiles/0/0/0.png").status == 404
    tile_server.service.create(
        ViewpointCreate(viewpoint_id="api-pending", viewpoint_name="p", bucket_name=SOURCE_BUCKET, object_key="x.tif")
    )
    pending = tile_server.get("/viewpoints/api-pending/image/tiles/0/0/0.png")
    assert pending.status == 409 and pending.json()["viewpoint_status"] == "REQUESTED"
    tile_server.service.record_failure("api-pending", "cannot open image x.tif: not recognized")
    api._items.clear()
    failed = tile_server.get("/viewpoints/api-pending/image/statistics")
    assert failed.status == 409 and "not recognized" in failed.json()["message"]
    assert tile_server.get("/viewpoints/api-pending/no/such/route").status == 404


def test_crud(tile_server: TileServer, rgb_byte: Path) -> None:
    key = tile_server.upload(rgb_byte, "uploads/crud.tif")
    body = {"viewpoint_id": "api-crud", "viewpoint_name": "crud", "bucket_name": SOURCE_BUCKET, "object_key": key}
    created = tile_server.request("POST", "/viewpoints", body=body)
    assert created.status == 201 and created.json()["viewpoint_status"] == "REQUESTED"
    assert tile_server.request("POST", "/viewpoints", body=body).status == 202
    invalid = tile_server.request("POST", "/viewpoints", body={**body, "viewpoint_id": "has space"})
    assert invalid.status == 422 and "viewpoint_id" in invalid.body.decode()
    assert tile_server.get("/viewpoints/api-crud").json()["viewpoint_name"] == "crud"
    page = tile_server.get("/viewpoints", max_results="2").json()
    assert len(page["items"]) == 2 and page["next_token"]
    seen, token = [], None
    while True:
        query = {"max_results": "3", **({"next_token": token} if token else {})}
        page = tile_server.get("/viewpoints", **query).json()
        seen += [i["viewpoint_id"] for i in page["items"]]
        token = page["next_token"]
        if not token:
            break
    assert "api-crud" in seen and len(seen) == len(set(seen))
    assert tile_server.get("/viewpoints", next_token="garbage").status == 400
    assert tile_server.request("DELETE", "/viewpoints/api-crud").status == 204
    assert tile_server.get("/viewpoints/api-crud").status == 404
    assert tile_server.request("DELETE", "/viewpoints/api-crud").status == 404


def test_openapi_document(tile_server: TileServer) -> None:
    document = tile_server.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/viewpoints/{viewpoint_id}/image/tiles/{z}/{x}/{tile}" in document["paths"]


def test_head_answers_like_get_without_a_body(tile_server: TileServer, landsat: dict) -> None:
    path = f"{LANDSAT}/image/tiles/0/0/0.png"
    head = tile_server.request("HEAD", path)
    get = tile_server.get(path)
    assert head.status == 200 and head.body == b""
    assert head.headers["content-type"] == "image/png" and head.headers["etag"] == get.headers["etag"]
    assert tile_server.request("HEAD", "/viewpoints/nope/image/bounds").status == 404


@pytest.fixture(scope="module")
def rpc_pair(tile_server: TileServer, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The RPC sample twice: an RPC-only GeoTIFF, and a NITF whose RPC00B comes with IGEOLO corners (as real
    NITFs do; GDAL reads those corners as GCPs)."""
    from rasterio.transform import RPCTransformer

    from tessera.imagery.encoding import igeolo

    folder = tmp_path_factory.mktemp("rpc")
    with rasterio.open(data_dir / "RGB.byte.rpc.vrt") as vrt:
        rasterio.shutil.copy(vrt, folder / "rpc.tif", driver="GTiff")
        width, height = vrt.width, vrt.height
        with RPCTransformer(vrt.rpcs) as transformer:
            lons, lats = transformer.xy([0, 0, height, height], [0, width, width, 0])
        corners = tuple(zip(lons, lats, strict=True))
        rasterio.shutil.copy(vrt, folder / "rpc.ntf", driver="NITF", ICORDS="G", IGEOLO=igeolo(corners))
    with rasterio.open(folder / "rpc.ntf") as nitf:
        assert nitf.rpcs is not None and len(nitf.gcps[0]) == 4, "the NITF carries both RPCs and corner GCPs"
    tile_server.ingest(folder / "rpc.tif", "rpc-only")
    tile_server.ingest(folder / "rpc.ntf", "rpc-igeolo")
    return folder / "rpc.tif", folder / "rpc.ntf"


def test_image_tiles_of_a_nitf_with_rpcs_and_corners_are_its_own_pixels(
    tile_server: TileServer, rpc_pair: tuple[Path, Path]
) -> None:
    _, nitf = rpc_pair
    pixels, _, _ = _decode(tile_server.get("/viewpoints/rpc-igeolo/image/tiles/0/1/0.tif").body)
    with rasterio.open(nitf) as source:
        expected = source.read(window=Window(512, 0, 279, 512))
    assert np.array_equal(pixels[:3, :512, :279], expected)
    assert tile_server.get("/viewpoints/rpc-igeolo/image/preview.png").status == 200
    assert tile_server.get("/viewpoints/rpc-igeolo/image/tiles/1/0/0.png").status == 200


def test_map_tiles_of_a_nitf_go_through_its_rpcs_not_its_corners(
    tile_server: TileServer, rpc_pair: tuple[Path, Path]
) -> None:
    tile_set = tile_server.get("/viewpoints/rpc-igeolo/map/tiles/WebMercatorQuad").json()
    lon, lat = tile_set["centerPoint"]["coordinates"]
    for limits in tile_set["tileMatrixSetLimits"][-3:]:
        z = int(limits["tileMatrix"])
        tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
        path = f"map/tiles/WebMercatorQuad/{z}/{tile.y}/{tile.x}.tif"
        with_corners, _, _ = _decode(tile_server.get(f"/viewpoints/rpc-igeolo/{path}").body)
        rpc_only, _, _ = _decode(tile_server.get(f"/viewpoints/rpc-only/{path}").body)
        # the same warp through the same RPCs (GDAL's overview choice may move a handful of edge pixels)
        assert (with_corners != rpc_only).mean() < 0.01, f"z={z}"
        assert (with_corners[3] > 0).mean() > 0.2


def test_gcp_image_tiles_are_in_the_pixel_grid(tile_server: TileServer, rgb_byte: Path, tmp_path: Path) -> None:
    from rasterio.control import GroundControlPoint

    with rasterio.open(rgb_byte) as source:
        pixels, (width, height) = source.read(), (source.width, source.height)
        corners = [(0, 0), (0, width), (height, width), (height, 0)]
        xs, ys = source.transform * (np.array([c for _, c in corners]), np.array([r for r, _ in corners]))
        gcps = [GroundControlPoint(r, c, x, y) for (r, c), x, y in zip(corners, xs, ys, strict=True)]
        crs = source.crs
    path = tmp_path / "gcps.tif"
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint8",
                       gcps=gcps, crs=crs) as dst:  # fmt: skip
        dst.write(pixels)
    tile_server.ingest(path, "gcp-image", tile_size=256)
    tile, _, _ = _decode(tile_server.get("/viewpoints/gcp-image/image/tiles/0/1/0.tif").body)
    assert np.array_equal(tile[:3], pixels[:, :256, 256:512])
    tile_set = tile_server.get("/viewpoints/gcp-image/map/tiles/WebMercatorQuad").json()
    lon, lat = tile_set["centerPoint"]["coordinates"]
    z = int(tile_set["tileMatrixSetLimits"][-2]["tileMatrix"])
    centre = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    reply = tile_server.get(f"/viewpoints/gcp-image/map/tiles/WebMercatorQuad/{z}/{centre.y}/{centre.x}.png")
    assert reply.status == 200 and (_decode(reply.body)[0][3] > 0).mean() > 0.5


def test_compression_per_format(tile_server: TileServer, landsat: dict, rgb_byte: Path) -> None:
    def tags(**query: str) -> dict:
        reply = tile_server.get(f"{LANDSAT}/image/tiles/0/0/0.{query.pop('fmt')}", **query)
        assert reply.status == 200, reply.body
        with MemoryFile(reply.body) as memfile, memfile.open() as tile:
            return {**tile.tags(), **tile.tags(ns="IMAGE_STRUCTURE"), "pixels": tile.read()}

    with rasterio.open(rgb_byte) as source:
        raw = source.read(window=Window(0, 0, 256, 256))
    uncompressed = tags(fmt="ntf", compression="NONE")
    assert uncompressed["NITF_IC"] == "NC" and np.array_equal(uncompressed["pixels"], raw)
    assert tags(fmt="ntf")["NITF_IC"] == "C8", "J2K by default, as OSML"
    assert tags(fmt="tif", compression="LZW")["COMPRESSION"] == "LZW"
    assert tags(fmt="tif")["COMPRESSION"] == "DEFLATE"
    wrong = tile_server.get(f"{LANDSAT}/image/tiles/0/0/0.ntf", compression="LZW")
    assert wrong.status == 400 and "not available for NITF" in wrong.json()["message"]


def test_nitf_edge_tiles_locate_the_padded_tile(tile_server: TileServer, landsat: dict, rgb_byte: Path) -> None:
    from tessera.geo.sensor_models import sensor_model_for

    reply = tile_server.get(f"{LANDSAT}/image/tiles/0/3/2.ntf")  # 791 x 718 at 256 px: 23 x 206 px of data
    with MemoryFile(reply.body) as memfile, memfile.open() as tile:
        assert (tile.width, tile.height) == (256, 256)
        text = tile.tags()["NITF_IGEOLO"]
    lower_right = text[30:45]  # UL, UR, LR, LL: 15 characters each, ddmmssNdddmmssE
    lat = int(lower_right[0:2]) + int(lower_right[2:4]) / 60 + int(lower_right[4:6]) / 3600
    lon = -(int(lower_right[7:10]) + int(lower_right[10:12]) / 60 + int(lower_right[12:14]) / 3600)
    with rasterio.open(rgb_byte) as source:
        model = sensor_model_for(source)
        expected_lon, expected_lat = model.image_to_world(np.array([768 + 255.5]), np.array([512 + 255.5]))
    assert (lon, lat) == pytest.approx((expected_lon[0], expected_lat[0]), abs=1 / 3600 + 1e-9)


def test_absurd_zooms_are_404_at_once(tile_server: TileServer, landsat: dict) -> None:
    assert tile_server.get(f"{LANDSAT}/image/tiles/1000000000/0/0.png").status == 404
    assert tile_server.get(f"{LANDSAT}/map/tiles/WebMercatorQuad/5000/0/0.png").status == 404
    assert tile_server.get(f"{LANDSAT}/map/tiles/WebMercatorQuad/3/0/99.png").status == 404


def test_a_viewpoint_deleted_by_another_lambda_is_404_not_500(tile_server: TileServer, rgb_byte: Path) -> None:
    tile_server.ingest(rgb_byte, "short-lived")
    assert tile_server.get("/viewpoints/short-lived/image/bounds").status == 200  # this container caches the item
    tile_server.service.delete("short-lived")  # as another container would: the item is still cached here
    reply = tile_server.get("/viewpoints/short-lived/image/tiles/0/1/0.png")
    assert reply.status == 404 and "does not exist" in reply.json()["message"]
