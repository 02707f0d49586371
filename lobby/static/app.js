// The Playlink lobby page: game list (live), sign up / log in / log out, Join and its progress.
// Talks only to the public API. Every value from the API reaches the page through textContent or
// setAttribute, never as markup. No inline script or style anywhere (the lobby's CSP forbids both).
"use strict";

(() => {
  const RECEIVED_TIMEOUT_MS = 5000;   // no "received by the game" within this: show the fallback panel
  const POLL_INTERVAL_MS = 3000;      // while the event stream is down: refresh the list this often
  const RECONNECT_FIRST_MS = 1000;
  const RECONNECT_MAX_MS = 30000;
  const CLIENT_PLACEHOLDER = "/path/to/the/game-client";
  // The extension's refusals that the URL scheme may not meet: no host or no config for the scheme here.
  const SCHEME_CAN_FIX = ["no_host", "host_error", "no_extension", "no_answer", "not_configured"];

  const $ = (id) => document.getElementById(id);
  const state = { me: null, games: new Map(), live: false, join: null };
  let events = null;
  let reconnectDelay = RECONNECT_FIRST_MS;
  let reconnectTimer = null;

  class ApiError extends Error {
    constructor(status, message, reason) {
      super(message);
      this.status = status;
      this.reason = reason || "";
    }
  }

  // ---- talking to the API -------------------------------------------------------------------

  function retryAfterSeconds(response) {
    const value = (response.headers.get("Retry-After") || "").trim();
    if (/^\d+$/.test(value)) return parseInt(value, 10);
    const when = Date.parse(value);
    return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
  }

  function rateLimitMessage(response) {
    const seconds = retryAfterSeconds(response);
    if (seconds === null) return "Too many requests. Please wait a moment and try again.";
    const at = new Date(Date.now() + seconds * 1000).toLocaleTimeString();
    const unit = seconds === 1 ? "second" : "seconds";
    return `Too many requests. Please try again in ${seconds} ${unit} (at ${at}).`;
  }

  function errorOf(response, body) {
    if (response.status === 429) return new ApiError(429, rateLimitMessage(response), "rate_limited");
    const problem = body && typeof body === "object" ? body : {};
    const text = [problem.detail, problem.title].find((v) => typeof v === "string" && v.trim());
    const message = text || `The lobby answered ${response.status} ${response.statusText}`.trim();
    return new ApiError(response.status, message, typeof problem.reason === "string" ? problem.reason : "");
  }

  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(0, "The lobby cannot be reached. Check the connection and try again.");
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    if (!response.ok) throw errorOf(response, data);
    return data;
  }

  // ---- messages -----------------------------------------------------------------------------

  function announce(text) {
    $("status").textContent = text;
  }

  function showError(error) {
    const box = $("error");
    box.textContent = error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
    box.hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  // ---- the game list ------------------------------------------------------------------------

  function isGame(value) {
    return value && typeof value === "object" && typeof value.id === "string";
  }

  function replaceGames(list) {
    state.games = new Map((Array.isArray(list) ? list : []).filter(isGame).map((g) => [g.id, g]));
    renderGames();
  }

  function upsertGame(game) {
    if (!isGame(game)) return;
    state.games.set(game.id, game);
    renderGames();
  }

  function removeGame(id) {
    state.games.delete(id);
    renderGames();
  }

  function cell(row, index) {
    while (row.cells.length <= index) row.insertCell();
    return row.cells[index];
  }

  function newRow(game) {
    const row = document.createElement("tr");
    row.dataset.gameId = game.id;
    const name = document.createElement("th");
    name.scope = "row";
    row.appendChild(name);
    for (let i = 1; i < 5; i += 1) row.insertCell();
    const button = document.createElement("button");
    button.type = "button";
    button.className = "join";
    button.textContent = "Join";
    button.addEventListener("click", () => join(row.dataset.gameId));
    row.cells[4].appendChild(button);
    return row;
  }

  function updateRow(row, game) {
    const players = Number(game.players) || 0;
    const reserved = Number(game.reserved) || 0;
    const status = String(game.status || "offline");
    row.cells[0].textContent = String(game.name);
    cell(row, 1).textContent = String(game.address || "");
    cell(row, 2).textContent = `${players}/${game.capacity}` + (reserved ? ` (+${reserved} joining)` : "");
    cell(row, 3).textContent = status;
    cell(row, 3).className = `status status-${status.replace(/[^a-z]/g, "")}`;
    const button = row.querySelector("button.join");
    button.setAttribute("aria-label", `Join ${game.name}`);
    button.disabled = !state.me || status !== "online";
    button.title = !state.me ? "Log in to join" : status !== "online" ? `This server is ${status}` : "";
  }

  function renderGames() {
    const body = $("games");
    const rows = new Map([...body.rows].map((row) => [row.dataset.gameId, row]));
    const games = [...state.games.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
    games.forEach((game, index) => {
      const row = rows.get(game.id) || newRow(game);
      rows.delete(game.id);
      updateRow(row, game);
      if (body.rows[index] !== row) body.insertBefore(row, body.rows[index] || null);
    });
    rows.forEach((row) => row.remove());
    $("no-games").hidden = games.length > 0;
  }

  async function refreshGames() {
    try {
      replaceGames((await api("GET", "/v1/games")).games);
    } catch (error) {
      showError(error);
    }
  }

  // ---- live events --------------------------------------------------------------------------

  function setLive(live) {
    state.live = live;
    $("live").textContent = live ? "live" : "reconnecting…";
    $("live").className = live ? "live on" : "live";
  }

  function data(event) {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  }

  function connectEvents() {
    clearTimeout(reconnectTimer);
    if (events) events.close();
    const source = new EventSource("/v1/events");
    events = source;
    source.addEventListener("open", () => {
      reconnectDelay = RECONNECT_FIRST_MS;
      setLive(true);
    });
    source.addEventListener("snapshot", (e) => replaceGames((data(e) || {}).games));
    source.addEventListener("reset", (e) => {
      const d = data(e);
      replaceGames(Array.isArray(d) ? d : (d || {}).games);
    });
    source.addEventListener("game", (e) => upsertGame(data(e)));
    source.addEventListener("game_removed", (e) => removeGame((data(e) || {}).id));
    source.addEventListener("join", (e) => onJoinEvent(data(e)));
    source.addEventListener("error", () => {
      setLive(false);
      if (source.readyState === EventSource.CLOSED && events === source) {
        reconnectTimer = setTimeout(connectEvents, reconnectDelay);
        reconnectDelay = Math.min(reconnectDelay * 2, RECONNECT_MAX_MS);
      }
    });
  }

  async function pollWhileNotLive() {
    if (state.live) return;
    await refreshGames();
    const pending = state.join;
    if (pending && state.me && pending.stage !== "joined") {
      try {
        const game = await api("GET", `/v1/games/${encodeURIComponent(pending.gameId)}`);
        const members = Array.isArray(game.members) ? game.members : [];
        if (members.some((m) => m && m.id === state.me.id)) setStage("joined");
      } catch {
        // the list refresh above already reported a broken lobby
      }
    }
  }

  // ---- who is logged in ---------------------------------------------------------------------

  function setMe(me) {
    state.me = me;
    $("who").hidden = !me;
    $("logout").hidden = !me;
    $("auth").hidden = Boolean(me);
    $("who-name").textContent = me ? String(me.name) : "";
    renderGames();
    connectEvents();
  }

  async function loadMe() {
    try {
      setMe(await api("GET", "/v1/players/me"));
    } catch (error) {
      if (error.status !== 401) showError(error);
      setMe(null);
    }
  }

  function credentials(form) {
    const fields = new FormData(form);
    return { name: String(fields.get("name") || ""), password: String(fields.get("password") || "") };
  }

  async function logIn(body) {
    const session = await api("POST", "/v1/sessions", body);
    setMe(session.player);
    announce(`Logged in as ${session.player.name}.`);
  }

  function onSubmit(form, action) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearError();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await action(credentials(form));
        form.reset();
      } catch (error) {
        showError(error);
      } finally {
        button.disabled = false;
      }
    });
  }

  // ---- joining ------------------------------------------------------------------------------

  function jtiOf(token) {
    // Read without trust, only to match this page's join events.
    try {
      const part = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
      return typeof claims.jti === "string" ? claims.jti : null;
    } catch {
      return null;
    }
  }

  function isLaunchUrl(url) {
    const match = /^([a-z][a-z0-9+.-]*):\/\/join\?/.exec(String(url));
    return Boolean(match) && !["http", "https", "javascript", "data", "file", "blob"].includes(match[1]);
  }

  async function join(gameId) {
    clearError();
    const game = state.games.get(gameId);
    if (!game) return;
    let issued;
    try {
      issued = await api("POST", `/v1/games/${encodeURIComponent(gameId)}/join`);
    } catch (error) {
      showError(error);
      return;
    }
    if (!isLaunchUrl(issued.launch_url)) {
      showError(new ApiError(0, "The lobby sent a launch link this page does not open."));
      return;
    }
    endJoin();
    state.join = {
      gameId,
      name: String(game.name),
      launchUrl: issued.launch_url,
      jti: jtiOf(issued.token),
      expiresAt: Date.parse(issued.expires_at),
      stage: "sent",
      timers: [],
    };
    $("join-game").textContent = state.join.name;
    $("join-panel").hidden = false;
    setStage("sent");
    state.join.timers.push(setInterval(tick, 1000));
    launch();
  }

  function launch() {
    const pending = state.join;
    $("fallback").hidden = true;
    clearTimeout(pending.fallbackTimer);
    delete $("join-panel").dataset.answer;
    const bridge = window.playlinkExtension;
    if (bridge && bridge.available(pending.launchUrl)) {
      launchThroughExtension(pending, bridge);
      return;
    }
    launchThroughScheme(pending);
  }

  function launchThroughScheme(pending) {
    $("join-panel").dataset.via = "scheme";
    pending.fallbackTimer = setTimeout(() => {
      if (state.join === pending && pending.stage === "sent") showFallback();
    }, RECEIVED_TIMEOUT_MS);
    window.location.assign(pending.launchUrl);
  }

  async function launchThroughExtension(pending, bridge) {
    $("join-panel").dataset.via = "extension";
    const answer = await bridge.send(pending.launchUrl);
    if (state.join !== pending) return;
    $("join-panel").dataset.answer = answer.ok ? "ok" : answer.reason;
    if (answer.ok) {
      setStage("received");
    } else if (SCHEME_CAN_FIX.includes(answer.reason)) {
      launchThroughScheme(pending);
    } else {
      const why = answer.error ? `: ${answer.error}` : "";
      showError(new ApiError(0, `The game's launcher refused this join (${answer.reason})${why}`));
      if (answer.reason === "unavailable") showFallback();
    }
  }

  function setStage(stage) {
    const pending = state.join;
    if (!pending) return;
    const order = ["sent", "received", "declined", "joined", "expired"];
    if (order.indexOf(stage) < order.indexOf(pending.stage)) return;
    pending.stage = stage;
    const reached = order.indexOf(stage);
    ["sent", "received", "joined"].forEach((name) => {
      $(`step-${name}`).className = order.indexOf(name) <= reached && stage !== "expired" ? "done" : "";
    });
    const texts = {
      sent: `Opening the game for ${pending.name}…`,
      received: `Received by the game. Waiting for ${pending.name} to let you in…`,
      declined: `Declined in the game: you did not join ${pending.name}. Join again for a new try.`,
      joined: `Joined ${pending.name}.`,
      expired: "This join expired before the game used it. Try again for a new one.",
    };
    $("join-state").textContent = texts[stage];
    $("join-panel").dataset.stage = stage;
    announce(texts[stage]);
    if (stage === "received" || stage === "declined" || stage === "joined") $("fallback").hidden = true;
    if (stage === "declined" || stage === "joined") endJoin(false);
  }

  function onJoinEvent(event) {
    const pending = state.join;
    if (!pending || !event || typeof event !== "object") return;
    const same = pending.jti ? event.jti === pending.jti : event.game === pending.gameId;
    if (same && ["received", "declined", "joined"].includes(event.state)) setStage(event.state);
  }

  function tick() {
    const pending = state.join;
    if (!pending) return;
    const left = Math.max(0, Math.round((pending.expiresAt - Date.now()) / 1000));
    $("countdown").textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    if (left === 0 && pending.stage !== "joined") setStage("expired");
  }

  function showFallback() {
    const pending = state.join;
    const url = new URL(pending.launchUrl);
    const lobby = url.searchParams.get("lobby") || window.location.origin;
    const scheme = url.protocol.replace(/:$/, "");
    $("install-command").textContent = `launcher install ${scheme} --lobby ${lobby} -- ${CLIENT_PLACEHOLDER}`;
    tick();
    $("fallback").hidden = false;
    $("fallback-title").focus();
    announce("The game did not answer. See below for how to install it, then try again.");
  }

  function endJoin(forget = true) {
    const pending = state.join;
    if (!pending) return;
    pending.timers.forEach(clearInterval);
    clearTimeout(pending.fallbackTimer);
    if (forget) state.join = null;
  }

  function retry() {
    const pending = state.join;
    if (!pending) return;
    if (pending.stage === "expired" || Date.now() >= pending.expiresAt) {
      join(pending.gameId);
    } else {
      announce(`Opening the game for ${pending.name} again…`);
      launch();
    }
  }

  // ---- start --------------------------------------------------------------------------------

  function start() {
    onSubmit($("login-form"), logIn);
    onSubmit($("signup-form"), async (body) => {
      await api("POST", "/v1/players", body);
      await logIn(body);
      announce(`Signed up and logged in as ${body.name}.`);
    });
    $("logout").addEventListener("click", async () => {
      clearError();
      try {
        await api("DELETE", "/v1/sessions/current");
      } catch (error) {
        if (error.status !== 401) {
          showError(error);
          return;
        }
      }
      endJoin();
      $("join-panel").hidden = true;
      $("fallback").hidden = true;
      setMe(null);
      announce("Logged out.");
    });
    $("retry").addEventListener("click", retry);
    setLive(false);
    refreshGames();
    loadMe();
    setInterval(pollWhileNotLive, POLL_INTERVAL_MS);
  }

  start();
})();
