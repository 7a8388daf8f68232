// The page's second view: upload a recording to the file API, watch it, download the text.
// Plain JavaScript, no build step; it uses $, withToken, LANGUAGES and stamp from app.js.
// API: docs/protocol.md, "File transcription" (POST with stream=true: server-sent events).

"use strict";

const files = {
  info: null, // /v1/info's "transcriptions" section
  file: null, // the File chosen
  xhr: null, // the upload in flight
  seen: 0, // characters of the event stream handled so far
  done: null, // the transcript.text.done event
};

const FORMATS = {
  txt: "text/plain", srt: "application/x-subrip", vtt: "text/vtt", json: "application/json",
};

// The inputs that shape srt and vtt cues: form field names are the API's own.
const LAYOUT_INPUTS = ["#file-line-width", "#file-line-count", "#file-cue-duration"];
// Everything the user may not change while a file is being transcribed.
const CHOICES = ["#file-model", "#file-language", "#file-task", "#file-input", ...LAYOUT_INPUTS];

// -- views ------------------------------------------------------------------------------

function showView(name) {
  for (const [tab, view] of [["#tab-live", "#live-view"], ["#tab-file", "#file-view"]]) {
    const selected = view === `#${name}-view`;
    $(tab).setAttribute("aria-selected", String(selected));
    $(view).hidden = !selected;
  }
}

function viewFromHash() {
  showView(location.hash === "#file" ? "file" : "live");
}

// -- choices ----------------------------------------------------------------------------

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function megabytes(bytes) {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${Math.round(bytes / 1e6)} MB`;
  return `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

function modelLabel(model) {
  const parts = [model.name];
  if (model.size_bytes) parts.push(megabytes(model.size_bytes));
  if (model.speed) parts.push(`${model.speed}× real time`);
  if (model.status === "bundled") parts.push("prepared on first use");
  return parts.join(" · ");
}

function currentModel() {
  return files.info.models.find((m) => m.name === $("#file-model").value);
}

function syncChoices() {
  // English-only models decode English only and cannot translate: say so up front.
  const model = currentModel();
  const english = model && !model.multilingual;
  for (const option of $("#file-language").options) {
    option.disabled = english && option.value !== "en";
  }
  if (english) {
    $("#file-language").value = "en";
    $("#file-task").value = "transcribe";
  }
  $("#file-task").querySelector("option[value=translate]").disabled = english;
  $("#file-start").disabled = !files.file || files.xhr !== null;
}

async function loadChoices() {
  const response = await fetch(withToken("/v1/info"));
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  const info = await response.json();
  files.info = info.transcriptions;
  const models = $("#file-model");
  for (const model of files.info.models) models.append(new Option(modelLabel(model), model.name));
  const languages = $("#file-language");
  for (const [code, name] of LANGUAGES) {
    languages.append(new Option(code === "auto" ? "Automatic (detect it)" : name, code));
  }
  languages.value = info.language && LANGUAGES.some(([c]) => c === info.language)
    ? info.language : "auto";
  // Left empty, a field takes the server's default, shown as its placeholder.
  for (const id of LAYOUT_INPUTS) {
    const value = (files.info.subtitles || {})[$(id).name];
    if (value !== undefined) $(id).placeholder = String(value);
  }
  const minutes = Math.round(files.info.max_upload_seconds / 60);
  // Speeds are measured on the files this server transcribes: until one is, none is shown.
  const measured = files.info.models.some((m) => m.speed);
  $("#file-hint").textContent =
    `Audio or video (wav, flac, mp3, m4a, ogg, webm, mp4...), up to ${megabytes(files.info.max_upload_bytes)} and ${minutes} min. ` +
    "Choosing the language is faster than detecting it." +
    (measured ? " Speeds (× real time) were measured on files transcribed here." : "");
  syncChoices();
}

function chooseFile(file) {
  if (!file) return;
  files.file = file;
  $("#file-name").textContent = `${file.name} (${megabytes(file.size)})`;
  showError("");
  syncChoices();
}

// -- progress and text ------------------------------------------------------------------

function setProgress(fraction, text) {
  $("#file-progress").value = Math.max(0, Math.min(1, fraction));
  $("#file-status").textContent = text;
}

function showError(message) {
  $("#file-error").textContent = message;
  $("#file-error").hidden = !message;
}

function clock(seconds) {
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m >= 60
    ? `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`
    : `${m}:${String(s % 60).padStart(2, "0")}`;
}

function onEvent(event) {
  switch (event.type) {
    case "transcript.progress":
      if (event.state === "queued") {
        const ahead = plural(event.ahead, "file");
        setProgress(0, event.ahead ? `Waiting: ${ahead} ahead` : "Waiting");
      } else if (event.state === "preparing") {
        setProgress(0, "Preparing: loading the model and reading the audio");
      } else if (event.state === "transcribing") {
        setProgress(event.progress, `Transcribing ${Math.round(event.progress * 100)}% · ` +
          `${clock(event.processed)} of ${clock(event.duration)}`);
      }
      break;
    case "transcript.text.segment": {
      const item = document.createElement("li");
      const time = document.createElement("span");
      time.className = "stamp";
      time.textContent = `${stamp(event.start, ".")} → ${stamp(event.end, ".")}`;
      item.append(time, document.createTextNode(event.text));
      $("#file-segments").append(item);
      break;
    }
    case "transcript.text.done":
      files.done = event;
      setProgress(1, `Done: ${clock(event.duration)} of audio, ` +
        `${plural(event.segments.length, "segment")}, language ${event.language || "unknown"}`);
      for (const button of document.querySelectorAll(".file-download")) button.disabled = false;
      break;
    case "error":
      showError(event.error.message);
      setProgress(0, "Failed");
      break;
    default:
      break; // a newer server's event: ignore it
  }
}

function readEvents(text, final) {
  // Server-sent events: "data: {json}" lines, events separated by a blank line.
  let end;
  while ((end = text.indexOf("\n\n", files.seen)) >= 0) {
    const block = text.slice(files.seen, end);
    files.seen = end + 2;
    const data = block.split("\n").filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart()).join("\n");
    if (!data) continue;
    try {
      onEvent(JSON.parse(data));
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
    }
  }
  if (final && files.seen < text.length) files.seen = text.length;
}

// -- the upload -------------------------------------------------------------------------

function apiUrl(task) {
  return withToken(task === "translate" ? "/v1/audio/translations" : "/v1/audio/transcriptions");
}

function finished() {
  files.xhr = null;
  $("#file-cancel").hidden = true;
  for (const id of CHOICES) $(id).disabled = false;
  syncChoices();
}

function start(event) {
  event.preventDefault();
  const file = files.file;
  if (!file || files.xhr) return;
  if (file.size > files.info.max_upload_bytes) {
    showError(`${file.name} is ${megabytes(file.size)}: this server takes files up to ` +
      `${megabytes(files.info.max_upload_bytes)}.`);
    return;
  }
  showError("");
  files.done = null;
  files.seen = 0;
  $("#file-segments").replaceChildren();
  for (const button of document.querySelectorAll(".file-download")) button.disabled = true;
  for (const id of CHOICES) $(id).disabled = true;
  $("#file-start").disabled = true;
  $("#file-cancel").hidden = false;

  const form = new FormData();
  form.append("file", file, file.name);
  form.append("model", $("#file-model").value);
  form.append("language", $("#file-language").value);
  form.append("response_format", "verbose_json");
  for (const id of LAYOUT_INPUTS) {
    if ($(id).value.trim()) form.append($(id).name, $(id).value.trim());
  }
  form.append("stream", "true");
  const xhr = new XMLHttpRequest();
  files.xhr = xhr;
  xhr.open("POST", apiUrl($("#file-task").value));
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) {
      setProgress(e.loaded / e.total, `Uploading ${Math.round((e.loaded / e.total) * 100)}%`);
    }
  };
  // XHR rather than fetch: it reports upload progress, and its responseText grows as
  // the events arrive.
  xhr.onprogress = () => {
    if (xhr.status === 200) readEvents(xhr.responseText, false);
  };
  xhr.onload = () => {
    if (xhr.status === 200) {
      readEvents(xhr.responseText, true);
      if (!files.done && $("#file-error").hidden) {
        showError("The connection ended before the transcript was complete.");
      }
    } else {
      let message = `${xhr.status} ${xhr.statusText}`;
      try {
        message = JSON.parse(xhr.responseText).error.message;
      } catch {
        // not our JSON error: keep the status line
      }
      showError(message);
      setProgress(0, "Failed");
    }
    finished();
  };
  xhr.onerror = () => {
    showError("The transcription API cannot be reached.");
    setProgress(0, "Failed");
    finished();
  };
  xhr.onabort = () => {
    setProgress(0, "Cancelled");
    finished();
  };
  setProgress(0, "Uploading");
  xhr.send(form);
}

function downloadResult(format) {
  if (!files.done) return;
  const blob = new Blob([files.done.files[format]], { type: `${FORMATS[format]};charset=utf-8` });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  const base = files.file ? files.file.name.replace(/\.[^.]*$/, "") : "transcript";
  link.download = `${base}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// -- setup ------------------------------------------------------------------------------

function setupFiles() {
  for (const name of ["live", "file"]) {
    $(`#tab-${name}`).addEventListener("click", () => {
      // The view is in the address, so a link or a reload opens the same one.
      history.replaceState(null, "", `#${name}`);
      showView(name);
    });
  }
  window.addEventListener("hashchange", viewFromHash);
  viewFromHash();

  const drop = $("#drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (!files.xhr) chooseFile(event.dataTransfer.files[0]);
  });
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") $("#file-input").click();
  });
  $("#file-input").addEventListener("change", (event) => chooseFile(event.target.files[0]));
  $("#file-model").addEventListener("change", syncChoices);
  $("#file-form").addEventListener("submit", start);
  $("#file-cancel").addEventListener("click", () => files.xhr?.abort());
  for (const button of document.querySelectorAll(".file-download")) {
    button.addEventListener("click", () => downloadResult(button.dataset.format));
  }
  loadChoices().catch((error) => showError(`Cannot reach the server: ${error.message}`));
}

setupFiles();
