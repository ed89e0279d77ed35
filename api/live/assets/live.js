// The live map: positions from /v1/ws/live drawn on a plain canvas (no tiles needed); with a tile
// URL configured (data-tiles on <html>, from LIVE_TILE_URL) OSM-style tiles are drawn beneath.
const canvas = document.getElementById('map');
const ctx = canvas.getContext('2d');
const list = document.getElementById('list');
const state = document.getElementById('state');
const vehicles = new Map(); // deviceId -> { lat, lon, ts, receivedAt, battery, speed, heading, online, trail: [[lat, lon]] }
const tileUrl = document.documentElement.dataset.tiles || '';
const tiles = new Map();

let socket;
const params = new URLSearchParams(location.search);
document.getElementById('key').value = params.get('key') || sessionStorage.getItem('fleetgate-key') || '';
document.getElementById('connect').addEventListener('submit', (e) => {
  e.preventDefault();
  connect(document.getElementById('key').value.trim());
});
if (document.getElementById('key').value) connect(document.getElementById('key').value);

function connect(key) {
  sessionStorage.setItem('fleetgate-key', key);
  socket?.close();
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${scheme}://${location.host}/v1/ws/live?key=${encodeURIComponent(key)}`);
  state.textContent = 'connecting…';
  socket.onopen = () => socket.send(JSON.stringify({ type: 'subscribe', vehicles: '*' }));
  socket.onmessage = (e) => onMessage(JSON.parse(e.data));
  socket.onclose = () => {
    state.textContent = 'disconnected – retrying';
    setTimeout(() => connect(key), 3000);
  };
}

function onMessage(m) {
  if (m.type === 'subscribed') state.textContent = 'live';
  // Last known positions, sent once on subscribing (in chunks), while live ones already arrive:
  // a live position newer than a vehicle's snapshot entry wins.
  if (m.type === 'snapshot')
    for (const p of m.positions) {
      const v = vehicles.get(p.deviceId);
      if (v?.receivedAt > p.receivedAt) continue;
      if (v?.receivedAt === p.receivedAt) {
        v.online = p.online; // the same report, seen before a reconnect: only its state may have changed
        continue;
      }
      vehicles.set(p.deviceId, {
        lat: p.lat,
        lon: p.lon,
        ts: p.ts,
        receivedAt: p.receivedAt,
        battery: p.battery,
        speed: p.speed,
        heading: p.heading,
        online: p.online,
        plate: p.plate,
        driverName: p.driverName,
        trail: [[p.lat, p.lon]],
      });
    }
  if (m.type === 'position') {
    const v = vehicles.get(m.deviceId) || { trail: [], online: true };
    Object.assign(v, {
      lat: m.lat,
      lon: m.lon,
      ts: m.ts,
      receivedAt: m.receivedAt,
      battery: m.battery,
      speed: m.speed,
      heading: m.heading,
    });
    // A position carries the CRM label once the gateway has looked it up; until then keep the known one.
    if (m.plate !== undefined) v.plate = m.plate;
    if (m.driverName !== undefined) v.driverName = m.driverName;
    v.trail.push([m.lat, m.lon]);
    if (v.trail.length > 50) v.trail.shift();
    vehicles.set(m.deviceId, v);
  }
  if (m.type === 'status') {
    const v = vehicles.get(m.deviceId) || { trail: [] };
    v.online = m.online;
    vehicles.set(m.deviceId, v);
  }
  schedule();
}

let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    draw();
    renderList();
  });
}
setInterval(renderList, 1000);

// Web Mercator, fitted to the vehicles in view.
const mercY = (lat) => Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360));
function view(w, h) {
  const pts = [...vehicles.values()].filter((v) => v.lat !== undefined);
  if (!pts.length) return null;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const v of pts)
    for (const [lat, lon] of [...v.trail, [v.lat, v.lon]]) {
      x0 = Math.min(x0, lon);
      x1 = Math.max(x1, lon);
      y0 = Math.min(y0, mercY(lat));
      y1 = Math.max(y1, mercY(lat));
    }
  const pad = 0.15;
  const sx = Math.max(x1 - x0, 0.01) * (1 + pad),
    sy = Math.max(y1 - y0, 0.0002) * (1 + pad);
  const scale = Math.min(w / ((sx * Math.PI) / 180), h / sy);
  const cx = (x0 + x1) / 2,
    cy = (y0 + y1) / 2;
  return {
    project: ([lat, lon]) => [w / 2 + (((lon - cx) * Math.PI) / 180) * scale, h / 2 - (mercY(lat) - cy) * scale],
    scale,
    cx,
    cy,
  };
}

function draw() {
  const w = canvas.clientWidth * devicePixelRatio;
  const h = canvas.clientHeight * devicePixelRatio;
  canvas.width = w;
  canvas.height = h;
  ctx.fillStyle = '#dfe7ee';
  ctx.fillRect(0, 0, w, h);
  const v = view(w, h);
  if (!v) return;
  if (tileUrl) drawTiles(v, w, h);
  drawGraticule(v, h);
  for (const [id, veh] of vehicles) {
    if (veh.lat === undefined) continue;
    ctx.strokeStyle = veh.online === false ? '#98a2ad' : '#2f80ed';
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.beginPath();
    veh.trail.forEach((p, i) => {
      const [x, y] = v.project(p);
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
    const [x, y] = v.project([veh.lat, veh.lon]);
    ctx.fillStyle = veh.online === false ? '#98a2ad' : '#eb5757';
    ctx.beginPath();
    ctx.arc(x, y, 6 * devicePixelRatio, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = '#1b2430';
    ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.fillText(id, x + 9 * devicePixelRatio, y + 4 * devicePixelRatio);
  }
}

function drawGraticule(v, h) {
  ctx.strokeStyle = 'rgba(27,36,48,.08)';
  ctx.lineWidth = 1;
  const step = 0.01;
  for (let i = -50; i <= 50; i++) {
    const [x] = v.project([0, Math.round(v.cx / step) * step + i * step]);
    ctx.beginPath();
    ctx.moveTo(x, 0);
    ctx.lineTo(x, h);
    ctx.stroke();
  }
}

function drawTiles(v, w, h) {
  const z = Math.max(0, Math.min(19, Math.round(Math.log2((v.scale * 2 * Math.PI) / 256))));
  const n = 2 ** z;
  const world = (n * 256) / (2 * Math.PI); // pixels per radian at zoom z
  const k = v.scale / world;
  const cxp = ((v.cx * Math.PI) / 180 + Math.PI) * world,
    cyp = (Math.PI - v.cy) * world;
  const tx0 = Math.floor((cxp - w / 2 / k) / 256),
    tx1 = Math.floor((cxp + w / 2 / k) / 256);
  const ty0 = Math.floor((cyp - h / 2 / k) / 256),
    ty1 = Math.floor((cyp + h / 2 / k) / 256);
  for (let tx = tx0; tx <= tx1; tx++)
    for (let ty = Math.max(0, ty0); ty <= Math.min(n - 1, ty1); ty++) {
      const url = tileUrl
        .replace('{z}', z)
        .replace('{x}', ((tx % n) + n) % n)
        .replace('{y}', ty);
      let img = tiles.get(url);
      if (!img) {
        img = new Image();
        img.onload = schedule;
        img.src = url;
        tiles.set(url, img);
      }
      if (img.complete && img.naturalWidth)
        ctx.drawImage(img, w / 2 + (tx * 256 - cxp) * k, h / 2 + (ty * 256 - cyp) * k, 256 * k, 256 * k);
    }
}

function age(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}
/** The CRM's plate and driver name where known, with the unit id. */
function label(id, v) {
  const crm = [v.plate, v.driverName].filter(Boolean).join(' · ');
  return crm ? `${crm} (${id})` : id;
}
function renderList() {
  const rows = [...vehicles.entries()].sort(([a], [b]) => a.localeCompare(b));
  list.replaceChildren(
    ...rows.map(([id, v]) => {
      const tr = document.createElement('tr');
      if (v.online === false) tr.className = 'offline';
      for (const text of [
        label(id, v),
        v.receivedAt ? age(v.receivedAt) : '–',
        v.battery == null ? '–' : `${Math.round(v.battery)} %`,
        v.speed == null ? '–' : `${Math.round(v.speed)} km/h`,
      ]) {
        const td = document.createElement('td');
        td.textContent = text; // never innerHTML: ids come from devices
        tr.append(td);
      }
      return tr;
    }),
  );
}
