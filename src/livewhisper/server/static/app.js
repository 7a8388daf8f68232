// The livewhisper caption page: microphone -> /v1/listen, or follow /v1/captions.
// Plain JavaScript, no build step. Protocol: docs/protocol.md.

"use strict";

const $ = (selector) => document.querySelector(selector);
const params = new URLSearchParams(location.search);
const token = params.get("token");

const LANGUAGES = [
  ["auto", "Detect"], ["en", "English"], ["es", "Spanish"], ["fr", "French"],
  ["de", "German"], ["it", "Italian"], ["pt", "Portuguese"], ["nl", "Dutch"],
  ["ca", "Catalan"], ["pl", "Polish"], ["sv", "Swedish"], ["ru", "Russian"],
  ["uk", "Ukrainian"], ["tr", "Turkish"], ["ar", "Arabic"], ["hi", "Hindi"],
  ["zh", "Chinese"], ["ja", "Japanese"], ["ko", "Korean"],
];

const state = {
  info: null,
  socket: null, // the /v1/listen or /v1/captions connection
  mode: "idle", // idle | starting | recording | finishing | following
  audio: null, // {context, stream, node}
  finals: [], // {session, text, start, end}
  partials: new Map(), // session -> element
  speakers: new Map(), // session -> "Speaker N", for shared sessions that gave no name
};

function withToken(path) {
  if (!token) return path;
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${withToken(path)}`;
}

function setStatus(text, isError = false) {
  const status = $("#status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

// -- captions ---------------------------------------------------------------------------

function nearBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function render(update) {
  // Follow the newest text unless the reader scrolled up to look at something.
  const box = $("#captions");
  const follow = nearBottom(box);
  update();
  syncHint();
  if (follow) box.scrollTop = box.scrollHeight;
}

function syncHint() {
  $("#empty-hint").hidden = $("#transcript").childElementCount + state.partials.size > 0;
}

function label(message) {
  // Shared captions carry the name their session gave itself, if any; one's own
  // captions need none.
  const session = message.session;
  if (!session || state.mode !== "following") return null;
  if (message.name) return message.name;
  if (session === "mic") return "Room microphone";
  if (!state.speakers.has(session)) state.speakers.set(session, `Speaker ${state.speakers.size + 1}`);
  return state.speakers.get(session);
}

function line(className, message) {
  const p = document.createElement("p");
  p.className = className;
  const text = message.text;
  const who = label(message);
  if (who) {
    const tag = document.createElement("span");
    tag.className = "who";
    tag.textContent = who;
    p.append(tag);
  }
  p.append(document.createTextNode(text));
  return p;
}

function showPartial(message) {
  const key = message.session || "me";
  render(() => {
    const old = state.partials.get(key);
    const p = line("partial", message);
    if (old) old.replaceWith(p);
    else $("#partials").append(p);
    state.partials.set(key, p);
  });
}

function showLag(message) {
  // The server says how far the text is behind the speaker, and when it caught up.
  const lag = $("#lag");
  lag.hidden = !message.behind;
  lag.textContent = message.behind
    ? `Captions ${Math.round(message.lag)} s behind (the machine is busy)`
    : "";
}

function showFinal(message) {
  const key = message.session || "me";
  render(() => {
    const old = state.partials.get(key);
    if (old) old.remove();
    state.partials.delete(key);
    $("#transcript").append(line("final", message));
  });
  state.finals.push({
    session: key, text: message.text, start: message.start, end: message.end,
  });
}

function clearPartials() {
  for (const p of state.partials.values()) p.remove();
  state.partials.clear();
  syncHint();
}

// -- transcript export ------------------------------------------------------------------

function stamp(seconds, separator) {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

function transcript(format) {
  const cues = state.finals.filter((f) => f.text.trim());
  if (format === "srt") {
    return cues.map((c, i) =>
      `${i + 1}\n${stamp(c.start, ",")} --> ${stamp(Math.max(c.end, c.start), ",")}\n` +
      `${c.text.trim()}\n\n`).join("");
  }
  if (format === "vtt") {
    return "WEBVTT\n\n" + cues.map((c) =>
      `${stamp(c.start, ".")} --> ${stamp(Math.max(c.end, c.start), ".")}\n` +
      `${c.text.trim()}\n\n`).join("");
  }
  return cues.map((c) => `${c.text.trim()}\n`).join("");
}

function download(format) {
  const types = { txt: "text/plain", srt: "application/x-subrip", vtt: "text/vtt" };
  const blob = new Blob([transcript(format)], { type: `${types[format]};charset=utf-8` });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `captions-${new Date().toISOString().slice(0, 19).replace(/:/g, "-")}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

async function copyText() {
  const text = transcript("txt");
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (an insecure origin): fall back to a selected text area.
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  setStatus("Transcript copied");
}

// -- the server -------------------------------------------------------------------------

function onServerMessage(event) {
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;
  }
  switch (message.type) {
    case "ready":
      setStatus(`Listening · ${message.model}`);
      break;
    case "subscribed":
      setStatus("Following shared captions");
      break;
    case "partial":
      showPartial(message);
      break;
    case "final":
      showFinal(message);
      break;
    case "status":
      showLag(message);
      break;
    case "error":
      setStatus(`${message.code}: ${message.message}`, true);
      break;
    case "end":
      setStatus("Stopped");
      break;
    default:
      break; // a newer server's message: ignore it
  }
}

function openSocket(path, onOpen) {
  const socket = new WebSocket(socketUrl(path));
  socket.binaryType = "arraybuffer";
  socket.onmessage = onServerMessage;
  socket.onopen = () => onOpen(socket);
  socket.onclose = (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    stopAudio();
    clearPartials();
    // An error the server explained stays on screen; otherwise say how it ended.
    if (!$("#status").classList.contains("error")) {
      if (event.code === 1000) setStatus("Stopped");
      else setStatus(`Disconnected (${event.code}${event.reason ? ` ${event.reason}` : ""})`, true);
    }
    setMode("idle");
  };
  state.socket = socket;
  return socket;
}

// -- the microphone ---------------------------------------------------------------------

async function startAudio(socket) {
  // Browser processing would alter what Whisper hears (and clip it): all of it off.
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: {
      channelCount: 1,
      echoCancellation: false,
      noiseSuppression: false,
      autoGainControl: false,
    },
  });
  const context = new AudioContext();
  await context.audioWorklet.addModule("/static/worklet.js");
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "livewhisper-capture", {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    channelCount: 1,
    channelCountMode: "explicit",
    processorOptions: { targetRate: 16000, frameSamples: 320 },
  });
  node.port.onmessage = (event) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(event.data);
  };
  // A node must reach the destination to be pulled on every render quantum: a muted one.
  const mute = context.createGain();
  mute.gain.value = 0;
  source.connect(node).connect(mute).connect(context.destination);
  await context.resume();
  state.audio = { context, stream, node };
}

function stopAudio() {
  const audio = state.audio;
  state.audio = null;
  if (!audio) return;
  audio.node.port.postMessage("stop");
  for (const track of audio.stream.getTracks()) track.stop();
  // Give the worklet a moment to post its last partial frame before the context goes.
  setTimeout(() => audio.context.close(), 100);
}

async function startRecording() {
  setMode("starting");
  setStatus("Connecting…");
  const language = $("#language").value;
  openSocket("/v1/listen", async (socket) => {
    socket.send(JSON.stringify({
      type: "config",
      sample_rate: 16000,
      encoding: "pcm_s16le",
      language,
      partials: true,
      share: $("#share").checked,
      model: $("#model").value || null,
      name: $("#name").value.trim() || null,
    }));
    try {
      await startAudio(socket);
      setMode("recording");
    } catch (error) {
      setStatus(`Microphone unavailable: ${error.message || error}`, true);
      socket.close(1000);
    }
  });
}

function stopRecording() {
  stopAudio();
  setMode("finishing");
  setStatus("Finishing…");
  // Let the worklet's last frame go out first; the server answers with the last finals,
  // then "end", then closes.
  setTimeout(() => {
    const socket = state.socket;
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "end" }));
    }
  }, 150);
}

function toggleFollow() {
  if (state.mode === "following") {
    state.socket?.close(1000);
    return;
  }
  setMode("following");
  setStatus("Connecting…");
  openSocket("/v1/captions", () => {});
}

function setMode(mode) {
  state.mode = mode;
  const start = $("#start");
  start.disabled = !state.info || mode === "starting" || mode === "finishing" ||
    mode === "following";
  start.textContent = mode === "recording" ? "Stop" : "Start microphone";
  start.classList.toggle("recording", mode === "recording");
  start.classList.toggle("primary", mode !== "recording");
  $("#follow").textContent = mode === "following" ? "Stop following" : "Follow shared captions";
  $("#follow").disabled = mode !== "idle" && mode !== "following";
  for (const id of ["#model", "#language", "#share", "#name"]) $(id).disabled = mode !== "idle";
  if (mode === "idle") syncLanguage();
}

// -- setup ------------------------------------------------------------------------------

function syncLanguage() {
  // English-only models decode English only: say so rather than fail at start.
  const info = state.info;
  if (!info) return;
  const model = info.models.find((m) => m.name === $("#model").value);
  const select = $("#language");
  if (model && !model.multilingual) {
    select.value = "en";
    select.disabled = true;
  } else {
    select.disabled = state.mode !== "idle";
  }
}

async function loadInfo() {
  const response = await fetch(withToken("/v1/info"));
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  const info = await response.json();
  state.info = info;
  const models = $("#model");
  for (const model of info.models) models.append(new Option(model.name, model.name));
  models.value = info.default_model;
  const languages = $("#language");
  for (const [code, name] of LANGUAGES) languages.append(new Option(name, code));
  const fallback = info.models[0] && info.models[0].multilingual ? "auto" : "en";
  languages.value = info.language && LANGUAGES.some(([c]) => c === info.language)
    ? info.language : fallback;
  syncLanguage();
}

function toggleCaptionsOnly() {
  const on = !document.body.classList.contains("captions-only");
  document.body.classList.toggle("captions-only", on);
  if (on && document.documentElement.requestFullscreen) {
    document.documentElement.requestFullscreen().catch(() => {});
  } else if (!on && document.fullscreenElement) {
    document.exitFullscreen().catch(() => {});
  }
  const box = $("#captions");
  box.scrollTop = box.scrollHeight;
}

function setup() {
  $("#start").addEventListener("click", () => {
    if (state.mode === "recording") stopRecording();
    else if (state.mode === "idle") startRecording();
  });
  $("#follow").addEventListener("click", toggleFollow);
  $("#model").addEventListener("change", syncLanguage);
  $("#copy").addEventListener("click", copyText);
  for (const button of document.querySelectorAll("button.download")) {
    button.addEventListener("click", () => download(button.dataset.format));
  }
  $("#clear").addEventListener("click", () => {
    state.finals = [];
    $("#transcript").replaceChildren();
    clearPartials();
  });
  $("#size").addEventListener("input", (event) => {
    document.documentElement.style.setProperty("--caption-size", `${event.target.value}px`);
  });
  $("#fullscreen").addEventListener("click", toggleCaptionsOnly);
  $("#captions").addEventListener("dblclick", () => {
    if (document.body.classList.contains("captions-only")) toggleCaptionsOnly();
  });
  document.addEventListener("fullscreenchange", () => {
    if (!document.fullscreenElement) document.body.classList.remove("captions-only");
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") document.body.classList.remove("captions-only");
  });
  loadInfo()
    .then(() => {
      setMode("idle");
      setStatus("Ready");
    })
    .catch((error) => setStatus(`Cannot reach the server: ${error.message}`, true));
}

setup();
