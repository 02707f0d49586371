// The bridge to the game's browser extension, when the player has it: detects it (a handshake with
// its content script over window.postMessage on this page's own origin) and sends a join through it.
// app.js uses window.playlinkExtension.send(url) when available() says the extension handles the
// link's scheme, and falls back to the URL scheme otherwise. No inline script (the CSP forbids it).
"use strict";

(() => {
  const ANSWER_TIMEOUT_MS = 30000;   // the host may be starting the game client (up to its start wait)
  const origin = window.location.origin;
  const pending = new Map();
  let schemes = new Set();
  let counter = 0;

  function fromOurContentScript(event) {
    return event.source === window && event.origin === origin && event.data && typeof event.data === "object";
  }

  window.addEventListener("message", (event) => {
    if (!fromOurContentScript(event)) return;
    const data = event.data;
    if (data.playlink === "extension" && typeof data.scheme === "string" && data.version === 1) {
      schemes = new Set([...schemes, data.scheme]);
    }
    if (data.playlink === "join-result" && pending.has(data.id)) {
      const settle = pending.get(data.id);
      pending.delete(data.id);
      settle({
        ok: data.ok === true,
        reason: typeof data.reason === "string" ? data.reason : "",
        error: typeof data.error === "string" ? data.error : "",
      });
    }
  });

  function schemeOf(url) {
    const match = /^([a-z][a-z0-9+.-]*):/.exec(String(url));
    return match ? match[1] : "";
  }

  function available(url) {
    return schemes.has(schemeOf(url));
  }

  function send(url) {
    counter += 1;
    const id = `join-${Date.now()}-${counter}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve({ ok: false, reason: "no_answer", error: "the extension did not answer" });
      }, ANSWER_TIMEOUT_MS);
      pending.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      window.postMessage({ playlink: "join", id, url }, origin);
    });
  }

  window.playlinkExtension = Object.freeze({ available, send });
  window.postMessage({ playlink: "hello" }, origin);
})();
