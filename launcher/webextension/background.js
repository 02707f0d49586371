// The game's extension, service worker: hands a join from a trusted lobby page to the native host.
// It listens only to its own content script (never to web pages or other extensions), only for the
// top frame of a trusted lobby origin, and passes the origin the browser reports, not one a page says.
"use strict";

const SETTINGS = /*PLAYLINK_SETTINGS*/ { host: "", origins: [], maxUrlChars: 8192 };

function refusal(reason, error) {
  return { ok: false, reason, error };
}

function senderOrigin(sender) {
  if (sender.id !== chrome.runtime.id || !sender.tab || sender.frameId !== 0) return null;
  const origin = typeof sender.origin === "string" ? sender.origin : null;
  let urlOrigin = null;
  try {
    urlOrigin = new URL(sender.url).origin;
  } catch {
    return null;
  }
  return origin === urlOrigin && SETTINGS.origins.includes(origin) ? origin : null;
}

function isJoin(message) {
  return Boolean(message) && typeof message === "object" && !Array.isArray(message)
    && Object.keys(message).length === 2 && message.type === "join"
    && typeof message.url === "string" && message.url.length <= SETTINGS.maxUrlChars;
}

function answer(reply) {
  if (!reply || typeof reply !== "object") return refusal("host_error", "the launcher gave no answer");
  if (reply.ok === true) return { ok: true };
  return refusal(String(reply.reason || "host_error").slice(0, 64), String(reply.error || "").slice(0, 1000));
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  const origin = senderOrigin(sender);
  if (!origin) {
    sendResponse(refusal("untrusted_origin", "only the top frame of a trusted lobby page may send joins"));
    return false;
  }
  if (!isJoin(message)) {
    sendResponse(refusal("malformed", "a join message is {type: 'join', url}"));
    return false;
  }
  const request = { v: 1, type: "join", origin, url: message.url };
  chrome.runtime.sendNativeMessage(SETTINGS.host, request, (reply) => {
    const failure = chrome.runtime.lastError;
    if (failure) {
      const text = String(failure.message || "").slice(0, 1000);
      const missing = /not found|forbidden/i.test(text);
      sendResponse(missing ? refusal("no_host", text) : refusal("host_error", text));
      return;
    }
    sendResponse(answer(reply));
  });
  return true;
});
