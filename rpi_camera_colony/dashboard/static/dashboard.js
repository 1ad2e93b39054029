// The dashboard page: tiles built from the server's status events (no polling), live images from the MJPEG relay.
"use strict";

const grid = document.getElementById("grid");
const tiles = new Map();
const $ = (id) => document.getElementById(id);
let current = null;

function text(node, value) { if (node.textContent !== value) node.textContent = value; }

function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function tileFor(camera) {
  let tile = tiles.get(camera.name);
  if (!tile) {
    tile = $("tile").content.firstElementChild.cloneNode(true);
    tile.dataset.camera = camera.name;
    tile.querySelector("img").src = `/cameras/${encodeURIComponent(camera.name)}/preview.mjpg`;
    tile.querySelector("img").alt = `live view of ${camera.name}`;
    grid.appendChild(tile);
    tiles.set(camera.name, tile);
  }
  return tile;
}

function showCamera(camera) {
  const tile = tileFor(camera);
  const q = (selector) => tile.querySelector(selector);
  text(q(".name"), camera.name);
  const badge = q(".badge");
  text(badge, camera.state);
  badge.className = `badge ${camera.state}`;
  text(q(".description"), camera.description || camera.address || "");
  const recording = camera.state === "recording";
  text(q(".frames"), recording ? String(camera.frames) : "–");
  text(q(".fps"), recording ? camera.fps.toFixed(1) : "–");
  text(q(".dropped"), recording ? String(camera.dropped) : "–");
  const left = camera.hours_left == null ? "" : ` (${camera.hours_left.toFixed(1)} h left)`;
  text(q(".disk"), bytes(camera.free_disk) + left);
  // the offset maps the camera's own clock (e.g. time since its boot) onto this machine's: what matters to a lab is
  // how well that mapping is known, and how fast the two clocks drift apart
  const clock = q(".clock");
  clock.title = camera.clock_offset_us == null ? "" : `offset ${(camera.clock_offset_us / 1e6).toFixed(6)} s`;
  text(clock, camera.clock_offset_us == null ? "not synchronised yet"
    : `synchronised ± ${(camera.clock_uncertainty_us / 1000).toFixed(3)} ms`
      + (camera.clock_drift_ppm == null ? "" : `, drift ${camera.clock_drift_ppm.toFixed(1)} ppm`));
  text(q(".problem"), camera.problem || "");
  tile.classList.toggle("problem", Boolean(camera.problem));
  tile.dataset.state = camera.state;
}

function showRecordings(recordings) {
  const body = $("recordings").querySelector("tbody");
  body.replaceChildren(...recordings.map((r) => {
    const row = document.createElement("tr");
    const stopped = r.stopped ? new Date(r.stopped * 1000).toLocaleString() : "";
    const length = r.started && r.stopped ? formatElapsed(r.stopped - r.started) : "";
    const cameras = Object.entries(r.cameras).map(([name, s]) =>
      `${name}: ${s.frames} / ${s.dropped} / ${s.fps == null ? "–" : Number(s.fps).toFixed(1)} / ${s.status}`);
    for (const value of [r.acquisition_name, stopped, length, cameras.join("; ")]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.appendChild(cell);
    }
    return row;
  }));
}

function show(view) {
  if (view.error) { text($("message"), view.error); return; }
  current = view;
  view.cameras.forEach(showCamera);
  // an empty name records under this one (the config's, or the last one used)
  $("acquisition-name").placeholder = view.acquisition_name;
  const state = $("state");
  const recording = view.acquiring && !view.busy;
  text(state, view.busy ? `${view.busy}…` : recording ? `recording ${view.acquisition_name}` : "live view");
  state.classList.toggle("recording", recording);
  text($("elapsed"), view.elapsed_s == null ? "" : formatElapsed(view.elapsed_s));
  $("start").disabled = view.acquiring || Boolean(view.busy);
  $("stop").disabled = !view.acquiring || Boolean(view.busy);
  showRecordings(view.recordings);
  document.body.dataset.ready = "true";
}

function formatElapsed(seconds) {
  const s = Math.floor(seconds % 60), m = Math.floor(seconds / 60) % 60, h = Math.floor(seconds / 3600);
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

async function call(path, body) {
  text($("message"), "");
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json();
  if (!response.ok) {
    const failures = answer.failures ? Object.entries(answer.failures).map(([c, m]) => `${c}: ${m}`).join("; ") : "";
    text($("message"), answer.error + (failures && !answer.error.includes(failures) ? ` (${failures})` : ""));
  }
  return answer;
}

$("controls").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("start").disabled = true;
  await call("/api/start", { acquisition_name: $("acquisition-name").value.trim() || null });
});
$("stop").addEventListener("click", async () => {
  $("stop").disabled = true;
  await call("/api/stop");
});

const events = new EventSource("/api/events");
events.onmessage = (event) => show(JSON.parse(event.data));
events.onerror = () => { text($("state"), "reconnecting…"); };
