// Jedi Academy: follows server-sent events for streamed patient replies and loop jobs.
// Loaded as a file (the Content-Security-Policy allows no inline script); all text goes in as textContent.
"use strict";

function followReply(element) {
  if (element.dataset.following) return;
  element.dataset.following = "1";
  const form = document.getElementById("say");
  const busy = form ? form.querySelectorAll("button, textarea") : [];
  busy.forEach((el) => { el.disabled = true; });
  const source = new EventSource(element.dataset.stream);
  let text = element.textContent;
  const waiting = document.getElementById("waiting");
  source.addEventListener("waiting", (event) => {
    if (!waiting) return;
    waiting.querySelector(".position").textContent = JSON.parse(event.data).position;
    waiting.hidden = false;
  });
  source.addEventListener("piece", (event) => {
    if (waiting) waiting.hidden = true;
    text += JSON.parse(event.data).text;
    element.textContent = text;
  });
  source.addEventListener("done", (event) => {
    const data = JSON.parse(event.data);
    source.close();
    if (waiting) waiting.hidden = true;
    if (data.error) {
      element.textContent = "(no reply: " + data.error + ")";
      element.classList.add("error");
    } else if (data.text !== null && data.text !== undefined) {
      element.textContent = data.text;
    }
    element.classList.remove("streaming");
    element.removeAttribute("data-stream");
    busy.forEach((el) => { el.disabled = false; });
    if (form) {
      const box = form.querySelector("textarea");
      // a cancelled wait gives the withdrawn words back, to edit or send again
      if (box) { box.value = data.withdrawn || ""; box.focus(); }
    }
    if (data.withdrawn) {
      const turn = element.closest(".turn");
      if (turn) turn.remove();
    }
  });
  source.onerror = () => { source.close(); element.classList.remove("streaming"); };
}

function followJob(section) {
  if (section.dataset.following) return;
  section.dataset.following = "1";
  const source = new EventSource(section.dataset.jobStream);
  const show = (data) => {
    document.getElementById("job-status").textContent = data.status;
    document.getElementById("job-stage").textContent = data.stage || "";
    document.getElementById("job-message").textContent = data.message || "";
    const bar = document.getElementById("job-progress");
    if (data.progress !== null && data.progress !== undefined) bar.value = data.progress;
    const error = document.getElementById("job-error");
    error.textContent = data.error || "";
    error.hidden = !data.error;
  };
  source.addEventListener("progress", (event) => show(JSON.parse(event.data)));
  source.addEventListener("done", (event) => {
    const data = JSON.parse(event.data);
    show(data);
    source.close();
    // the page stays, with the job's last message and the way on to its result
    const outcome = document.getElementById("job-outcome");
    const link = document.getElementById("job-result-link");
    if (data.status === "done") {
      outcome.textContent = "Done." + (data.checkpoint_id
        ? " The re-fine-tuned patient is checkpoint " + data.checkpoint_id + "." : "");
      if (data.checkpoint_id) {
        link.href = section.dataset.caseUrl + "#checkpoint-" + data.checkpoint_id;
        link.textContent = "See the new checkpoint on the case";
      }
    } else {
      outcome.textContent = "The job " + data.status + ".";
    }
    document.getElementById("job-final").hidden = false;
  });
}

function wire(root) {
  root.querySelectorAll("[data-stream]").forEach(followReply);
  root.querySelectorAll("[data-job-stream]").forEach(followJob);
}

// An error from an HTMX request is shown next to the control that sent it (the server answers such requests
// with plain text), and cleared when that control sends again.
function errorSlot(element, create) {
  const owner = element.closest("form") || element;
  let slot = owner.querySelector(".form-error");
  if (!slot && create) {
    slot = document.createElement("p");
    slot.className = "form-error error";
    slot.setAttribute("role", "alert");
    owner.appendChild(slot);
  }
  return slot;
}
document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  errorSlot(event.detail.elt, true).textContent = xhr.responseText || ("The server answered " + xhr.status + ".");
});
document.addEventListener("htmx:sendError", (event) => {
  errorSlot(event.detail.elt, true).textContent = "The server could not be reached; try again.";
});
document.addEventListener("htmx:beforeRequest", (event) => {
  const slot = errorSlot(event.detail.elt, false);
  if (slot) slot.remove();
});

document.addEventListener("DOMContentLoaded", () => wire(document));
document.addEventListener("htmx:afterSettle", (event) => wire(event.target));
