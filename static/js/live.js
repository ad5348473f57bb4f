/*
 * Shared by the live pages (dashboard, smart meter): number and time formatting, the status
 * lines, and the websocket to ws/plants/<id>/live/.
 * The formatting rules mirror plant/views.py so values do not jump when the first live
 * message replaces the server-rendered page.
 */
(function () {
  "use strict";

  const lang = document.documentElement.lang || "en";
  const numberFormats = new Map();

  function formatNumber(value, decimals) {
    let format = numberFormats.get(decimals);
    if (!format) {
      // signDisplay "negative": a value that rounds to zero shows "0", not "-0" (same in plant/views.py).
      format = new Intl.NumberFormat(lang, {
        minimumFractionDigits: decimals,
        maximumFractionDigits: decimals,
        signDisplay: "negative",
      });
      numberFormats.set(decimals, format);
    }
    return format.format(value);
  }

  function isNumber(value) {
    return typeof value === "number" && Number.isFinite(value);
  }

  /* Magnitude only; the direction is told by captions and flow lines. */
  function formatPower(powerW) {
    if (!isNumber(powerW)) return "–";
    const magnitude = Math.abs(powerW);
    if (Math.round(magnitude) < 1000) return formatNumber(magnitude, 0) + " W";
    return formatNumber(magnitude / 1000, 2) + " kW";
  }

  function formatUnit(value, decimals, unit) {
    return isNumber(value) ? formatNumber(value, decimals) + (unit ? " " + unit : "") : "–";
  }

  /* Times in the plant's time zone, as the server renders them: the page's short date format
     (Django's SHORT_DATE_FORMAT, e.g. "m/d/Y" or "d.m.Y") and H:i:s (plant/middleware.py). */
  const timeZone = document.body.dataset.timeZone || undefined;
  const shortDateFormat = document.body.dataset.shortDateFormat || "Y-m-d";
  const partsFormat = new Intl.DateTimeFormat("en-US", {
    timeZone: timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });

  function zonedParts(date) {
    const parts = {};
    partsFormat.formatToParts(date).forEach(function (part) {
      parts[part.type] = part.value;
    });
    return parts;
  }

  function formatDate(parts) {
    const tokens = {
      d: parts.day,
      j: String(Number(parts.day)),
      m: parts.month,
      n: String(Number(parts.month)),
      Y: parts.year,
      y: parts.year.slice(-2),
    };
    return shortDateFormat.replace(/[djmnYy]/g, function (token) {
      return tokens[token];
    });
  }

  function formatDateTime(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    const parts = zonedParts(date);
    return formatDate(parts) + " " + parts.hour + ":" + parts.minute + ":" + parts.second;
  }

  /* "14:05" in the plant's time zone (chart axes). */
  function formatTime(ms) {
    const parts = zonedParts(new Date(ms));
    return parts.hour + ":" + parts.minute;
  }

  function zonedHour(ms) {
    return Number(zonedParts(new Date(ms)).hour);
  }

  function readJson(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function byTestId(testId, root) {
    return (root || document).querySelector('[data-testid="' + testId + '"]');
  }

  function setText(element, text) {
    if (element && element.textContent !== text) element.textContent = text;
  }

  /* Raw value for tests and tools; "" means unknown / not present. */
  function setRaw(element, name, value) {
    if (element) element.dataset[name] = isNumber(value) ? String(value) : "";
  }

  /*
   * The "last update" and "meter status" lines. A snapshot counts as stale when its timestamp
   * has not changed for staleAfterS of browser time: comparing with the browser clock directly
   * would flag a device whose clock differs from the visitor's.
   */
  function StatusLines(config, labels) {
    const lastUpdate = byTestId("last-update");
    const meterStatus = byTestId("meter-status");
    let lastTimestamp = null;
    let lastChangeMs = lastUpdate && lastUpdate.classList.contains("is-warning") ? 0 : Date.now();

    function part(element, role) {
      return element ? element.querySelector('[data-role="' + role + '"]') : null;
    }

    function refreshStale() {
      if (!lastUpdate || !lastTimestamp) return;
      const stale = Date.now() - lastChangeMs > config.staleAfterS * 1000;
      lastUpdate.classList.toggle("is-warning", stale);
      setText(part(lastUpdate, "label"), stale ? labels.stale : labels.lastUpdate);
    }

    function render(state) {
      if (state.timestamp !== lastTimestamp) {
        if (lastTimestamp !== null) lastChangeMs = Date.now();
        lastTimestamp = state.timestamp;
      }
      if (lastUpdate) {
        lastUpdate.dataset.timestamp = state.timestamp;
        const time = part(lastUpdate, "time");
        time.setAttribute("datetime", state.timestamp);
        setText(time, formatDateTime(state.timestamp));
      }
      refreshStale();
      if (meterStatus && state.meter_status) {
        const status = state.meter_status;
        meterStatus.hidden = false;
        meterStatus.dataset.online = String(Boolean(status.online));
        meterStatus.classList.toggle("is-ok", Boolean(status.online));
        meterStatus.classList.toggle("is-error", !status.online);
        setText(part(meterStatus, "label"), status.online ? labels.meterOnline : labels.meterOfflineSince);
        const time = part(meterStatus, "time");
        const since = status.online ? "" : status.offline_since || "";
        time.setAttribute("datetime", since);
        setText(time, formatDateTime(since));
        setText(part(meterStatus, "error"), status.error || "");
      }
    }

    setInterval(refreshStale, 1000);
    return { render: render };
  }

  /*
   * Opens the plant's live socket and hands every state message to onState. Reconnects after
   * 1, 2, 4 ... 30 s (with jitter, so many browsers do not return in lockstep after a restart)
   * and shows "connection lost" meanwhile.
   */
  function connectLive(config, labels, onState) {
    const pill = byTestId("connection-status");
    const minDelayMs = 1000;
    const maxDelayMs = 30000;
    let delayMs = minDelayMs;

    function show(state, text) {
      // The page dims its live parts while the values on it are no longer current.
      document.body.dataset.live = state;
      if (!pill) return;
      pill.dataset.state = state;
      setText(pill, text);
    }

    function open() {
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      const socket = new WebSocket(scheme + "://" + window.location.host + config.socketPath);
      socket.addEventListener("open", function () {
        delayMs = minDelayMs;
        show("live", labels.live);
      });
      socket.addEventListener("message", function (event) {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        if (message && message.type === "state" && message.state) onState(message.state);
      });
      socket.addEventListener("close", function (event) {
        // 4401: the session has ended (logout elsewhere, expiry); retrying cannot help.
        if (event.code === 4401) {
          show("lost", labels.sessionEnded);
          return;
        }
        show("lost", labels.connectionLost);
        const wait = delayMs * (1 + Math.random() * 0.25);
        delayMs = Math.min(delayMs * 2, maxDelayMs);
        window.setTimeout(open, wait);
      });
    }

    show("connecting", labels.connecting);
    open();
  }

  window.KSEM = {
    lang: lang,
    isNumber: isNumber,
    formatNumber: formatNumber,
    formatPower: formatPower,
    formatUnit: formatUnit,
    formatDateTime: formatDateTime,
    formatTime: formatTime,
    zonedHour: zonedHour,
    timeZone: timeZone,
    readJson: readJson,
    byTestId: byTestId,
    setText: setText,
    setRaw: setRaw,
    StatusLines: StatusLines,
    connectLive: connectLive,
  };
})();
