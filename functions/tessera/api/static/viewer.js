// Tessera viewer: a viewpoint's image tiles (OSML's pixel grid) with a job's detections overlaid.
// Query: ?viewpoint=ID&features=URL[&format=png][&api=BASE]; #feature=N opens detection N's properties.
// Progress is mirrored on <body data-*> so a headless browser test can read it from the DOM.
(function () {
  "use strict";
  const params = new URLSearchParams(window.location.search);
  const api = (params.get("api") || "").replace(/\/$/, "");
  const viewpointId = params.get("viewpoint");
  const featuresUrl = params.get("features");
  const format = params.get("format") || "png";
  const body = document.body;
  const statusLine = document.getElementById("status");
  const palette = ["#ff3b30", "#ffcc00", "#34c759", "#0a84ff", "#bf5af2", "#ff9f0a", "#64d2ff"];

  function status(text, state) {
    statusLine.textContent = text;
    if (state) body.dataset.state = state;
  }

  function bump(name) {
    body.dataset[name] = String(Number(body.dataset[name] || 0) + 1);
  }

  async function getJson(url) {
    const response = await fetch(url);
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(payload.message || `${response.status} ${response.statusText}`);
    return payload;
  }

  async function readyViewpoint() {
    for (;;) {
      const item = await getJson(`${api}/viewpoints/${encodeURIComponent(viewpointId)}`);
      if (item.viewpoint_status === "READY") return item;
      if (item.viewpoint_status === "FAILED") throw new Error(`viewpoint FAILED: ${item.error_message}`);
      status(`Viewpoint ${viewpointId} is ${item.viewpoint_status}…`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function propertiesTable(properties) {
    const table = document.createElement("table");
    table.className = "feature-properties";
    for (const [key, value] of Object.entries(properties)) {
      const row = document.createElement("tr");
      row.append(cell(key), cell(typeof value === "object" ? JSON.stringify(value) : String(value)));
      table.append(row);
    }
    return table;
  }

  function imageRing(properties) {
    const geometry = properties.imageGeometry;
    if (geometry && geometry.type === "Polygon") return { ring: geometry.coordinates[0] };
    if (geometry && geometry.type === "Point") return { point: geometry.coordinates };
    const bbox = properties.imageBBox || properties.bounds_imcoords;
    if (bbox) return { ring: [[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]], [bbox[0], bbox[3]]] };
    return null;
  }

  function className(properties) {
    const classes = properties.featureClasses || [];
    return classes.length ? classes[0].iri : "detection";
  }

  async function overlay(map, toLatLng) {
    const collection = await getJson(featuresUrl);
    const colours = new Map();
    const layers = [];
    for (const feature of collection.features || []) {
      const properties = feature.properties || {};
      const shape = imageRing(properties);
      if (!shape) continue;
      const label = className(properties);
      if (!colours.has(label)) colours.set(label, palette[colours.size % palette.length]);
      const style = { color: colours.get(label), weight: 2, fillOpacity: 0.15 };
      const layer = shape.ring
        ? L.polygon(shape.ring.map(([x, y]) => toLatLng(x, y)), style)
        : L.circleMarker(toLatLng(shape.point[0], shape.point[1]), { ...style, radius: 6 });
      layer.bindPopup(() => propertiesTable({ id: feature.id, ...properties }), { maxWidth: 320 });
      layer.addTo(map);
      layers.push(layer);
      bump("featuresRendered");
    }
    const legend = document.getElementById("legend");
    for (const [label, colour] of colours) {
      const count = layers.filter((l) => l.options.color === colour).length;
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.style.background = colour;
      item.append(swatch, `${label}: ${count}`);
      legend.append(item);
    }
    return layers;
  }

  async function listViewpoints() {
    const page = await getJson(`${api}/viewpoints?max_results=100`);
    const legend = document.getElementById("legend");
    for (const item of page.items || []) {
      const entry = document.createElement("li");
      const link = document.createElement("a");
      link.href = `?viewpoint=${encodeURIComponent(item.viewpoint_id)}${api ? `&api=${encodeURIComponent(api)}` : ""}`;
      link.textContent = `${item.viewpoint_name} (${item.viewpoint_status})`;
      entry.append(link);
      legend.append(entry);
    }
    status(page.items && page.items.length ? "Choose a viewpoint:" : "No viewpoints yet: POST /viewpoints", "ready");
  }

  async function main() {
    if (!viewpointId) return listViewpoints();
    const item = await readyViewpoint();
    const width = item.image.width;
    const height = item.image.height;
    const tileSize = Number(item.tile_size || 512);
    // OSML's z: 0 is full resolution. Leaflet's zoom: 0 shows the whole image in one tile.
    const maxZ = Math.max(0, Math.ceil(Math.log2(Math.max(width, height) / tileSize)));
    const scale = 2 ** maxZ;
    const toLatLng = (x, y) => L.latLng(-y / scale, x / scale);
    const bounds = L.latLngBounds(toLatLng(0, height), toLatLng(width, 0));
    const map = L.map("map", { crs: L.CRS.Simple, minZoom: 0, maxZoom: maxZ + 2, zoomSnap: 0.25 });
    const OsmlTiles = L.TileLayer.extend({
      getTileUrl(coords) {
        const z = maxZ - coords.z;
        return `${api}/viewpoints/${encodeURIComponent(viewpointId)}/image/tiles/${z}/${coords.x}/${coords.y}.${format}`;
      },
    });
    const tiles = new OsmlTiles("", { tileSize, bounds, noWrap: true, maxNativeZoom: maxZ, minZoom: 0, maxZoom: maxZ + 2 });
    tiles.on("tileload", () => bump("tilesLoaded"));
    tiles.on("tileerror", () => bump("tileErrors"));
    tiles.addTo(map);
    map.fitBounds(bounds);
    status(`${item.viewpoint_name}: ${width} × ${height} px, ${item.image.band_count} band(s), ${item.range_adjustment}`);
    if (featuresUrl) {
      const layers = await overlay(map, toLatLng);
      status(`${statusLine.textContent}; ${layers.length} detections`);
      const match = window.location.hash.match(/feature=(\d+)/);
      if (match && layers[Number(match[1])]) {
        const chosen = layers[Number(match[1])];
        chosen.openPopup(chosen.getBounds ? chosen.getBounds().getCenter() : chosen.getLatLng());
        body.dataset.popupOpen = "true";
      }
    }
    body.dataset.state = "ready";
  }

  main().catch((err) => status(`Error: ${err.message}`, "error"));
})();
