// NextPaper's pages: the Like, Save, Dismiss and Undo forms post in place, without a reload.
// Every form works without this file (the server answers a redirect back to the page); with
// it, the server answers JSON and the page updates its buttons and offers an undo.
"use strict";

(() => {
  const HIDE_AFTER_MS = 8000;
  let hideTimer = null;
  let undo = null; // what the toast's Undo button posts: { form, type }

  function markForms(paperId) {
    return [...document.querySelectorAll("form.actions")].filter(
      (form) => form.elements.paper_id && form.elements.paper_id.value === paperId,
    );
  }

  function render(form, body) {
    for (const state of body.buttons) {
      const button = form.querySelector(`button.${state.mark}`);
      if (!button) continue;
      button.value = state.value;
      button.textContent = state.label;
      button.title = state.title;
      button.setAttribute("aria-pressed", state.pressed ? "true" : "false");
    }
    const item = form.closest(".item");
    const dismissed = body.buttons.some((b) => b.mark === "dismiss" && b.pressed);
    if (item) item.classList.toggle("dismissed", dismissed);
  }

  function showToast(message, form, type) {
    const toast = document.getElementById("toast");
    if (!toast) return;
    document.getElementById("toast-text").textContent = message;
    undo = { form, type };
    toast.hidden = false;
    clearTimeout(hideTimer);
    hideTimer = setTimeout(() => {
      toast.hidden = true;
    }, HIDE_AFTER_MS);
  }

  async function post(form, type) {
    const data = new FormData(form);
    data.set("type", type);
    const response = await fetch(form.action, {
      method: "POST",
      body: data,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok || !(response.headers.get("Content-Type") || "").includes("json")) {
      throw new Error(`HTTP ${response.status}`);
    }
    return response.json();
  }

  // Without a reply we can read, let the browser post the form as it would without script:
  // the server's page (or its error page) says what happened.
  function postWithoutScript(form, type) {
    const field = document.createElement("input");
    field.type = "hidden";
    field.name = "type";
    field.value = type;
    form.append(field);
    HTMLFormElement.prototype.submit.call(form);
  }

  async function mark(form, type) {
    let body;
    try {
      body = await post(form, type);
    } catch {
      postWithoutScript(form, type);
      return;
    }
    for (const other of markForms(body.paper_id)) render(other, body);
    const banner = form.closest(".banner");
    if (banner) {
      // the notice of an action made without script: it now tells of this one, and undoes it
      banner.querySelector("span").textContent = body.message;
      form.querySelector("button").value = body.undo;
      return;
    }
    showToast(body.message, form, body.undo);
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const button = event.submitter;
    if (!form.matches("form[data-mark]") || !button || button.name !== "type") return;
    event.preventDefault();
    mark(form, button.value);
  });

  document.addEventListener("DOMContentLoaded", () => {
    const undoButton = document.getElementById("toast-undo");
    if (!undoButton) return;
    undoButton.addEventListener("click", () => {
      if (undo && document.contains(undo.form)) mark(undo.form, undo.type);
      else document.getElementById("toast").hidden = true;
    });
  });
})();
