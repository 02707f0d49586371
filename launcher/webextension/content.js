// The game's extension, content script: the bridge between a trusted lobby page and the extension.
// Injected only into the top frame of the trusted lobby origins; it speaks to the page through
// window.postMessage on the page's own origin, and tells the page it is there ("extension").
"use strict";

(() => {
  const SETTINGS = /*PLAYLINK_SETTINGS*/ { scheme: "", origins: [] };
  if (window.top !== window || !SETTINGS.origins.includes(window.location.origin)) return;
  const origin = window.location.origin;

  function post(message) {
    window.postMessage(Object.assign({ playlink: "" }, message), origin);
  }

  function announce() {
    post({ playlink: "extension", scheme: SETTINGS.scheme, version: 1 });
  }

  function forward(id, url) {
    chrome.runtime.sendMessage({ type: "join", url }, (reply) => {
      const failure = chrome.runtime.lastError;
      const answer = failure || !reply || typeof reply !== "object"
        ? { ok: false, reason: "no_extension", error: String((failure && failure.message) || "") }
        : reply;
      post({
        playlink: "join-result",
        id,
        ok: answer.ok === true,
        reason: String(answer.reason || ""),
        error: String(answer.error || ""),
      });
    });
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window || event.origin !== origin) return;
    const data = event.data;
    if (!data || typeof data !== "object") return;
    if (data.playlink === "hello") announce();
    if (data.playlink === "join" && typeof data.id === "string" && typeof data.url === "string") {
      forward(data.id.slice(0, 64), data.url);
    }
  });
  announce();
})();
