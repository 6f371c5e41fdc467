// Operator console: a small client for the JSON API at /console/api (no framework).
// Every request is a POST with the session's CSRF token; the page's own location uses
// "#" routes only, which browsers never send to a server. Text goes into the page through
// textContent (never innerHTML), so nothing a caller said can become markup.

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const app = document.getElementById("app");

// Each route() opens a new page. An answer that arrives after the page changed belongs to a
// page no longer shown: api() drops it (StaleView), so a slow calendar never replaces the
// calls list the operator opened meanwhile.
let pageGeneration = 0;
class StaleView extends Error {}
addEventListener("unhandledrejection", (e) => {
  if (e.reason instanceof StaleView) e.preventDefault();
});

/**
 * Calls the console API; a 401 sends the browser to the login form. Throws StaleView when
 * the page changed while the answer was on its way.
 */
async function api(name, body = {}) {
  const generation = pageGeneration;
  const res = await fetch(`/console/api/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  if (res.status === 401) {
    location.assign("/console/login");
    throw new Error("signed out");
  }
  const data = await res.json().catch(() => ({}));
  if (generation !== pageGeneration) throw new StaleView(`${name}: the page changed`);
  return { ok: res.ok, status: res.status, data };
}

/** Creates an element: h("p", { class: "x", onclick: fn }, "text", child, …). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const show = (...nodes) =>
  app.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
const errorBox = (text) => h("p", { class: "error", role: "alert" }, text);
const notice = (text) => h("p", { class: "notice", role: "status" }, text);

// ---------------------------------------------------------------- formatting

function fmt(iso, tz, locale, options) {
  return new Intl.DateTimeFormat(locale, { timeZone: tz, ...options }).format(new Date(iso));
}
const fmtTime = (iso, tz, locale) => fmt(iso, tz, locale, { hour: "numeric", minute: "2-digit" });
const fmtDateTime = (iso, tz, locale) =>
  fmt(iso, tz, locale, {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "numeric",
    minute: "2-digit",
    second: "2-digit",
  });
function fmtDay(date, locale) {
  return new Intl.DateTimeFormat(locale, {
    weekday: "long",
    day: "numeric",
    month: "long",
    timeZone: "UTC",
  }).format(new Date(`${date}T12:00:00Z`));
}
function fmtMoney(amount, currency, locale) {
  if (amount === null || amount === undefined || !currency) return "";
  return new Intl.NumberFormat(locale, { style: "currency", currency }).format(amount);
}
function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  const s = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}
const fmtMs = (ms) => (ms === null || ms === undefined ? "—" : `${Math.round(ms)} ms`);
const outcomeLabel = (o) => String(o).replaceAll("_", " ");
function addDays(date, n) {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}
function mondayOf(date) {
  const day = new Date(`${date}T12:00:00Z`).getUTCDay(); // 0 = Sunday
  return addDays(date, -((day + 6) % 7));
}
const requestId = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0"))
    .join("");

// ---------------------------------------------------------------- router

let cleanup = () => {};
const routes = {
  calendar: renderCalendar,
  calls: renderCalls,
  call: renderCall,
  live: renderLive,
  quality: renderQuality,
  profile: renderProfile,
};

async function route() {
  pageGeneration++;
  cleanup();
  cleanup = () => {};
  const [name, arg] = location.hash.replace(/^#\/?/, "").split("/");
  const render = routes[name] ?? routes.calendar;
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle(
      "active",
      a.getAttribute("href") === `#/${routes[name] ? name : "calendar"}`,
    );
  }
  if (name === "call") {
    for (const a of document.querySelectorAll("header nav a")) {
      a.classList.toggle("active", a.getAttribute("href") === "#/calls");
    }
  }
  try {
    await render(arg ? decodeURIComponent(arg) : undefined);
  } catch (error) {
    if (error instanceof StaleView || String(error?.message) === "signed out") return;
    show(errorBox(`Something went wrong: ${error}`));
  }
}

// ---------------------------------------------------------------- calendar

const calendarState = { view: "day", date: "today", showCancelled: true };

async function renderCalendar() {
  const st = calendarState;
  const { ok, data } = await api("calendar", {
    date: st.view === "week" && st.date !== "today" ? mondayOf(st.date) : st.date,
    days: st.view === "week" ? 7 : 1,
    includeCancelled: st.showCancelled,
  });
  if (!ok) return show(errorBox(data.error?.message ?? "The calendar could not be loaded."));
  if (st.view === "week" && st.date === "today") {
    // Weeks start on Monday: ask again for the week of today.
    st.date = data.today;
    return renderCalendar();
  }
  const { timeZone: tz, locale } = data;
  const current = st.date === "today" ? data.today : st.date;
  const step = st.view === "week" ? 7 : 1;
  const go = (date) => {
    st.date = date;
    renderCalendar();
  };
  const message = h("div", { class: "messages" });
  const toolbar = h(
    "div",
    { class: "toolbar" },
    h(
      "div",
      { class: "segmented" },
      ...["day", "week"].map((v) =>
        h("button", {
          type: "button",
          class: st.view === v ? "on" : "",
          "aria-pressed": String(st.view === v),
          onclick: () => {
            st.view = v;
            renderCalendar();
          },
        }, v === "day" ? "Day" : "Week")
      ),
    ),
    h("button", { type: "button", onclick: () => go(addDays(current, -step)) }, "‹ Earlier"),
    h("button", { type: "button", onclick: () => go("today") }, "Today"),
    h("button", { type: "button", onclick: () => go(addDays(current, step)) }, "Later ›"),
    h("input", {
      type: "date",
      class: "goto",
      "aria-label": "Go to date",
      value: current,
      onchange: (e) => e.target.value && go(e.target.value),
    }),
    h(
      "label",
      { class: "check" },
      h("input", {
        type: "checkbox",
        checked: st.showCancelled,
        onchange: (e) => {
          st.showCancelled = e.target.checked;
          renderCalendar();
        },
      }),
      " cancelled",
    ),
  );
  const addForm = bookingForm({
    services: data.services,
    date: data.days[0].date < data.today ? data.today : data.days[0].date,
    locale,
    tz,
    title: "Add a booking",
    submitLabel: "Book",
    onSubmit: async (v) => {
      const res = await api("bookings/add", { ...v, requestId: requestId() });
      if (!res.ok) return res.data.message ?? res.data.error?.message ?? "Not booked.";
      st.date = v.start.slice(0, 10);
      await renderCalendar();
      app.querySelector(".messages")?.append(
        notice(
          `Booked ${res.data.booking.serviceName} for ${res.data.booking.customerName}: ${res.data.booking.label} (${res.data.booking.id}).`,
        ),
      );
    },
  });
  const addDetails = h("details", { class: "add" }, h("summary", {}, "+ Add a booking"), addForm);
  const days = data.days.map((day) => {
    const bookings = data.bookings.filter((b) => b.start.slice(0, 10) === day.date);
    const hours = day.closed
      ? `Closed${day.closedReason ? ` (${day.closedReason})` : ""}`
      : day.hours.map((r) => `${r.open}–${r.close}`).join(", ");
    return h(
      "section",
      { class: `day${day.date === data.today ? " today" : ""}`, dataset: { date: day.date } },
      h("h2", {}, fmtDay(day.date, locale), h("span", { class: "muted hours" }, hours)),
      bookings.length
        ? h("ol", { class: "bookings" }, ...bookings.map((b) => bookingCard(b, data, message)))
        : h("p", { class: "muted empty" }, "No bookings."),
    );
  });
  show(
    h(
      "h1",
      {},
      st.view === "week" ? `Week of ${fmtDay(data.days[0].date, locale)}` : fmtDay(current, locale),
    ),
    h("p", { class: "muted" }, `Times in ${tz}.`),
    toolbar,
    message,
    addDetails,
    h("div", { class: `days ${st.view}` }, ...days),
  );
}

/** One line on a booking's reminder: planned, in progress, or what came of it. */
function reminderLabel(r, tz, locale) {
  const outcome = {
    answered: "answered",
    voicemail: "left on voicemail",
    sms: "sent by text",
    opted_out: "none: the customer opted out",
    dropped: "none: booking cancelled",
    too_late: "none: booked too late",
    no_number: "none: no number to call",
    gave_up: "not reached",
  };
  if (r.state === "done") {
    const what = outcome[r.result] ?? (r.result ?? "done");
    return `Reminder: ${what}${r.response && r.response !== "none" ? ` (${r.response})` : ""}`;
  }
  if (r.state === "scheduled" && r.dueAt) {
    const at = new Date(r.dueAt).toLocaleString(locale, {
      timeZone: tz,
      weekday: "short",
      hour: "numeric",
      minute: "2-digit",
    });
    return `Reminder due ${at}${r.attempts > 0 ? ` (retry ${r.attempts})` : ""}`;
  }
  return `Reminder: ${r.state.replace("_", " ")}`;
}

function bookingCard(b, data, message) {
  const { timeZone: tz, locale } = data;
  const cancelled = b.status === "cancelled";
  const card = h(
    "li",
    { class: `booking${cancelled ? " cancelled" : ""}`, dataset: { id: b.id } },
    h(
      "div",
      { class: "when" },
      `${fmtTime(b.start, tz, locale)}–${fmtTime(b.end, tz, locale)}`,
    ),
    h(
      "div",
      { class: "what" },
      h("strong", {}, b.serviceName),
      " ",
      h("span", { class: "price" }, fmtMoney(b.price, b.currency, locale)),
      cancelled ? h("span", { class: "badge" }, "cancelled") : null,
    ),
    h(
      "div",
      { class: "who" },
      h("span", { class: "customer" }, b.customerName),
      " · ",
      h("a", { href: `tel:${b.customerPhone.replace(/[^\d+]/g, "")}` }, b.customerPhone),
    ),
    h(
      "div",
      { class: "meta muted" },
      `Ref ${b.id}`,
      b.callSid
        ? [" · ", h("a", { href: `#/call/${encodeURIComponent(b.callSid)}` }, "the call")]
        : " · by hand",
    ),
    b.reminder
      ? h("div", { class: "reminder muted" }, reminderLabel(b.reminder, tz, locale))
      : null,
  );
  if (!cancelled && Date.parse(b.start) > Date.now()) {
    const actions = h("div", { class: "actions" });
    const resetActions = () => actions.replaceChildren(cancelBtn, moveBtn);
    const cancelBtn = h("button", {
      type: "button",
      class: "danger",
      onclick: () =>
        actions.replaceChildren(
          h("span", {}, "Cancel this booking? "),
          h("button", {
            type: "button",
            class: "danger confirm-cancel",
            onclick: async () => {
              const res = await api("bookings/cancel", { id: b.id });
              if (!res.ok) {
                message.replaceChildren(errorBox(res.data.message ?? "Not cancelled."));
                return resetActions();
              }
              await renderCalendar();
              app.querySelector(".messages")?.append(notice(`Cancelled ${b.id}.`));
            },
          }, "Yes, cancel"),
          h("button", { type: "button", onclick: resetActions }, "Keep"),
        ),
    }, "Cancel");
    const moveBtn = h("button", {
      type: "button",
      onclick: () =>
        actions.replaceChildren(bookingForm({
          services: data.services,
          date: b.start.slice(0, 10),
          serviceId: b.serviceId,
          locale,
          tz,
          title: `Move ${b.id}`,
          submitLabel: "Move",
          customer: false,
          onCancel: resetActions,
          onSubmit: async (v) => {
            const res = await api("bookings/reschedule", {
              id: b.id,
              newStart: v.start,
              serviceId: v.serviceId,
            });
            if (!res.ok) return res.data.message ?? res.data.error?.message ?? "Not moved.";
            calendarState.date = v.start.slice(0, 10);
            await renderCalendar();
            app.querySelector(".messages")?.append(
              notice(`Moved ${b.id} to ${res.data.booking.label}.`),
            );
          },
        })),
    }, "Reschedule");
    resetActions();
    card.append(actions);
  }
  return card;
}

/** A form to pick service, date and time (free times offered), and the customer. */
function bookingForm(o) {
  const err = h("div", { class: "form-error" });
  const service = h(
    "select",
    { name: "serviceId", required: true },
    ...o.services.map((s) =>
      h(
        "option",
        { value: s.id, selected: s.id === o.serviceId },
        `${s.name} (${s.durationMinutes} min, ${fmtMoney(s.price, s.currency, o.locale)})`,
      )
    ),
  );
  const date = h("input", { type: "date", name: "date", value: o.date, required: true });
  const time = h("input", { type: "time", name: "time", step: 300, required: true });
  const free = h("div", { class: "free-times" });
  const name = o.customer === false
    ? null
    : h("input", { name: "customerName", autocomplete: "off", required: true, maxlength: 100 });
  const phone = o.customer === false ? null : h("input", {
    name: "customerPhone",
    type: "tel",
    autocomplete: "off",
    required: true,
    maxlength: 40,
  });
  const loadFree = async () => {
    free.replaceChildren(h("span", { class: "muted" }, "Looking for free times…"));
    const res = await api("slots", { serviceId: service.value, date: date.value });
    if (!res.ok) return free.replaceChildren(h("span", { class: "muted" }, res.data.message ?? ""));
    const slots = res.data.slots ?? [];
    free.replaceChildren(
      slots.length ? h("span", { class: "muted" }, res.data.closed ? "Closed. " : "Free: ") : h(
        "span",
        { class: "muted" },
        res.data.closed ? "Closed that day." : "No free time that day.",
      ),
      ...slots.slice(0, 40).map((s) =>
        h("button", {
          type: "button",
          class: "chip",
          dataset: { start: s.start },
          onclick: () => {
            time.value = s.start.slice(11, 16);
          },
        }, fmtTime(s.start, o.tz, o.locale))
      ),
    );
  };
  service.addEventListener("change", loadFree);
  date.addEventListener("change", loadFree);
  const form = h(
    "form",
    {
      class: "booking-form",
      onsubmit: async (e) => {
        e.preventDefault();
        err.replaceChildren();
        const submit = form.querySelector("button[type=submit]");
        submit.disabled = true;
        try {
          const problem = await o.onSubmit({
            serviceId: service.value,
            start: `${date.value}T${time.value}`,
            ...(name ? { customerName: name.value, customerPhone: phone.value } : {}),
          });
          if (problem) err.replaceChildren(errorBox(problem));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h3", {}, o.title),
    h("label", {}, "Service", service),
    h("div", { class: "row" }, h("label", {}, "Date", date), h("label", {}, "Time", time)),
    free,
    name ? h("label", {}, "Customer name", name) : null,
    phone ? h("label", {}, "Phone", phone) : null,
    err,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, o.submitLabel),
      o.onCancel ? h("button", { type: "button", onclick: o.onCancel }, "Back") : null,
    ),
  );
  loadFree();
  return form;
}

// ---------------------------------------------------------------- calls

const OUTCOMES = [
  "booked",
  "rescheduled",
  "cancelled",
  "information",
  "transferred",
  "caller_hung_up",
  "agent_hung_up",
  "model_unavailable",
  "shutdown",
  "error",
];
const callsState = { filters: {}, page: 1 };

async function renderCalls() {
  const st = callsState;
  const f = st.filters;
  const res = await api("calls", { ...f, page: st.page, pageSize: 25 });
  if (!res.ok) return show(errorBox(res.data.error?.message ?? "The calls could not be loaded."));
  const data = res.data;
  const input = (name, attrs) => h("input", { name, value: f[name] ?? "", ...attrs });
  const check = (name, label) =>
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", name, checked: !!f[name] }),
      ` ${label}`,
    );
  const form = h(
    "form",
    {
      class: "filters",
      onsubmit: (e) => {
        e.preventDefault();
        const fd = new FormData(e.target);
        const next = {};
        for (const k of ["from", "to", "outcome", "phone"]) {
          const v = String(fd.get(k) ?? "").trim();
          if (v) next[k] = v;
        }
        for (const k of ["booked", "transferred", "modelUnavailable", "flagged"]) {
          if (fd.get(k)) next[k] = true;
        }
        st.filters = next;
        st.page = 1;
        renderCalls();
      },
    },
    h("label", {}, "From", input("from", { type: "date" })),
    h("label", {}, "To", input("to", { type: "date" })),
    h(
      "label",
      {},
      "Outcome",
      h(
        "select",
        { name: "outcome" },
        h("option", { value: "" }, "any"),
        ...OUTCOMES.map((o) =>
          h("option", { value: o, selected: f.outcome === o }, outcomeLabel(o))
        ),
      ),
    ),
    h("label", {}, "Phone ends with", input("phone", { type: "search", inputmode: "tel" })),
    h(
      "div",
      { class: "checks" },
      check("booked", "booked"),
      check("transferred", "transferred"),
      check("modelUnavailable", "model unavailable"),
      check("flagged", "flagged (promise mismatch)"),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Filter"),
      h("button", {
        type: "button",
        onclick: () => {
          st.filters = {};
          st.page = 1;
          renderCalls();
        },
      }, "Clear"),
    ),
  );
  const rows = data.calls.map((c) =>
    h(
      "tr",
      { dataset: { sid: c.callSid }, class: c.flagged ? "flagged" : undefined },
      h(
        "td",
        {},
        h(
          "a",
          { href: `#/call/${encodeURIComponent(c.callSid)}` },
          fmtDateTime(c.startedAt, data.timeZone, data.locale),
        ),
      ),
      h("td", {}, c.from || "unknown"),
      h(
        "td",
        {},
        c.endedAt ? fmtDuration(Date.parse(c.endedAt) - Date.parse(c.startedAt)) : "live",
      ),
      h("td", {}, h("span", { class: `outcome ${c.outcome}` }, outcomeLabel(c.outcome))),
      h("td", { class: "num" }, c.turns),
      h("td", { class: "num" }, c.toolCalls),
      h("td", { class: "num" }, c.bargeIns),
      h("td", {}, c.booked ? "✓" : ""),
      h(
        "td",
        {},
        c.flagged
          ? h(
            "span",
            { class: "badge bad", title: "A claim of the agent did not match" },
            "⚑ mismatch",
          )
          : "",
      ),
    )
  );
  const pager = h(
    "div",
    { class: "pager" },
    h("button", {
      type: "button",
      disabled: st.page <= 1,
      onclick: () => {
        st.page--;
        renderCalls();
      },
    }, "‹ Newer"),
    h("span", {}, `Page ${data.page} of ${data.pages} · ${data.total} calls`),
    h("button", {
      type: "button",
      disabled: st.page >= data.pages,
      onclick: () => {
        st.page++;
        renderCalls();
      },
    }, "Older ›"),
  );
  show(
    h("h1", {}, "Calls"),
    form,
    data.calls.length
      ? h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "calls" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ...[
                "Started",
                "Caller",
                "Length",
                "Outcome",
                "Lines",
                "Tools",
                "Barge-ins",
                "Booked",
                "Checks",
              ].map((t) => h("th", {}, t)),
            ),
          ),
          h("tbody", {}, ...rows),
        ),
      )
      : h("p", { class: "muted empty" }, "No calls match."),
    pager,
  );
}

async function renderCall(sid) {
  const res = await api("call", { callSid: sid ?? "" });
  if (!res.ok) {
    return show(
      h("p", {}, h("a", { href: "#/calls" }, "‹ Calls")),
      errorBox(res.data.error?.message ?? "No such call."),
    );
  }
  const { call, timeline, latency, bookings, sms, afterCall, timeZone: tz, locale } = res.data;
  const turns = latency.turnMs ?? [];
  const maxTurn = Math.max(1, ...turns);
  const kpi = (label, value) =>
    h("div", { class: "kpi" }, h("span", { class: "label" }, label), h("strong", {}, value));
  const latencyBars = h(
    "ol",
    { class: "bars" },
    ...turns.map((ms, i) => {
      const bar = h("span", { class: "bar" });
      bar.style.width = `${Math.max(2, (100 * ms) / maxTurn)}%`;
      return h(
        "li",
        {},
        h("span", { class: "label" }, `turn ${i + 1}`),
        bar,
        h("span", { class: "value" }, fmtMs(ms)),
      );
    }),
  );
  show(
    h("p", {}, h("a", { href: "#/calls" }, "‹ Calls")),
    h("h1", {}, `Call from ${call.from || "unknown"}`),
    afterCall.flagged
      ? h(
        "p",
        { class: "flag", role: "alert" },
        "⚑ Flagged: the agent told the caller something the records do not show (see below).",
      )
      : null,
    h(
      "p",
      { class: "muted" },
      `${fmtDateTime(call.startedAt, tz, locale)} · to ${call.to || "?"} · ${call.callSid}`,
    ),
    h(
      "div",
      { class: "kpis" },
      kpi("Outcome", outcomeLabel(call.outcome)),
      kpi("Length", call.endedAt ? fmtDuration(call.durationMs) : "in progress"),
      kpi("Turn latency p50", fmtMs(latency.p50Ms)),
      kpi("p95", fmtMs(latency.p95Ms)),
      kpi("Barge-ins", res.data.bargeIns),
      kpi("End", call.endReason ? outcomeLabel(call.endReason) : "—"),
    ),
    ...afterCallSection(afterCall, tz, locale),
    h("h2", {}, "Bookings made"),
    bookings.length
      ? h(
        "ul",
        { class: "call-bookings" },
        ...bookings.map((b) =>
          h(
            "li",
            { dataset: { id: b.id } },
            h("strong", {}, b.serviceName),
            ` ${b.label} · ${
              fmtMoney(b.price, b.currency, locale)
            } · ${b.customerName} · ref ${b.id}`,
            b.status === "cancelled" ? h("span", { class: "badge" }, "cancelled") : null,
          )
        ),
      )
      : h("p", { class: "muted" }, "None."),
    h("h2", {}, "SMS sent"),
    sms.length
      ? h(
        "ul",
        {},
        ...sms.map((s) =>
          h(
            "li",
            {},
            `${fmtTime(s.at, tz, locale)} to ${s.to}`,
            s.bookingId ? ` (booking ${s.bookingId})` : "",
            s.error ? h("span", { class: "badge bad" }, `failed: ${s.error}`) : "",
          )
        ),
      )
      : h("p", { class: "muted" }, "None."),
    h("h2", {}, "Turn latency"),
    turns.length ? latencyBars : h("p", { class: "muted" }, "No turns measured."),
    h("h2", {}, "Timeline"),
    h("ol", { class: "timeline" }, ...timeline.map((e) => timelineItem(e, tz, locale))),
  );
}

/** The summary, the agent's claims with their verdicts, and the recording. */
function afterCallSection(a, tz, locale) {
  const s = a.summary;
  const summary = !s
    ? h("p", { class: "muted" }, "No summary (the call predates it).")
    : s.status !== "ok"
    ? h("p", { class: "muted summary-missing" }, s.note ?? `No summary (${s.status}).`)
    : h(
      "div",
      { class: "summary" },
      h("p", {}, s.text),
      h(
        "p",
        { class: "muted" },
        `Intent: ${s.intent || "—"} · Outcome: ${s.outcome || "—"}`,
      ),
      s.followUp?.needed
        ? h("p", { class: "badge bad" }, `Follow up: ${s.followUp.reason ?? "yes"}`)
        : h("p", { class: "muted" }, "No follow-up needed."),
    );
  const claimText = (c) => {
    const x = c.claim;
    const what = x.quote ?? [x.service, x.date, x.time, x.day, x.open && `${x.open}–${x.close}`]
      .concat(x.amount !== undefined ? [fmtMoney(x.amount, x.currency ?? "USD", locale)] : [])
      .concat(x.closed ? ["closed"] : [])
      .concat(x.reference ? [`ref ${x.reference}`] : [])
      .filter(Boolean).join(" · ");
    return `${outcomeLabel(c.kind)}: ${what || JSON.stringify(x)}`;
  };
  const claims = a.claims.length
    ? h(
      "ul",
      { class: "claims" },
      ...a.claims.map((c) =>
        h(
          "li",
          { class: `claim ${c.status}`, dataset: { status: c.status } },
          h("span", { class: `badge ${c.status === "mismatch" ? "bad" : ""}` }, c.status),
          " ",
          claimText(c),
          c.source === "live"
            ? h(
              "span",
              { class: "muted" },
              ` (said live${c.at ? ` at ${fmtTime(c.at, tz, locale)}` : ""})`,
            )
            : "",
          c.truth
            ? h(
              "div",
              { class: "truth muted" },
              c.status === "verified" ? `✓ ${c.truth}` : `Records: ${c.truth}`,
            )
            : null,
        )
      ),
    )
    : h("p", { class: "muted" }, "No claims to check.");
  const r = a.recording;
  const recording = !r ? h("p", { class: "muted" }, "Not recorded.") : r.deletedAt
    ? h(
      "p",
      { class: "muted" },
      `Deleted ${fmtDateTime(r.deletedAt, tz, locale)} (${r.deletedBecause ?? "retention"}).`,
    )
    : h(
      "p",
      {},
      h("code", {}, r.path),
      r.durationMs !== undefined ? ` · ${fmtDuration(r.durationMs)}` : "",
      r.error ? h("span", { class: "badge bad" }, r.error) : "",
    );
  return [
    h("h2", {}, "After the call"),
    summary,
    h("h2", {}, "What the agent promised"),
    claims,
    h("h2", {}, "Recording"),
    recording,
  ];
}

function json(value) {
  return h("pre", {}, JSON.stringify(value, null, 2));
}

function timelineItem(e, tz, locale) {
  const at = h("time", { datetime: e.at }, fmtTime(e.at, tz, locale));
  switch (e.kind) {
    case "turn":
      return h(
        "li",
        { class: `ev turn ${e.role}` },
        at,
        h("span", { class: "who" }, e.role === "caller" ? "Caller" : "Agent"),
        h("span", { class: "text" }, e.text),
        e.interrupted ? h("span", { class: "badge" }, "interrupted") : null,
      );
    case "tool":
      return h(
        "li",
        { class: `ev tool${e.error ? " failed" : ""}` },
        at,
        h("span", { class: "who" }, "Tool"),
        h(
          "details",
          {},
          h(
            "summary",
            {},
            `${e.name} (${Math.round(e.durationMs)} ms)${e.error ? ` failed: ${e.error}` : ""}`,
          ),
          h("div", { class: "io" }, h("span", { class: "muted" }, "arguments"), json(e.arguments)),
          e.result !== undefined
            ? h("div", { class: "io" }, h("span", { class: "muted" }, "result"), json(e.result))
            : null,
        ),
      );
    case "barge_in":
      return h(
        "li",
        { class: "ev barge" },
        at,
        h("span", { class: "who" }, "Barge-in"),
        h(
          "span",
          { class: "text" },
          `Caller spoke over the agent${
            e.heardMs !== undefined ? ` after ${(e.heardMs / 1000).toFixed(1)} s` : ""
          }`,
          e.heardText !== undefined ? `; they had heard: “${e.heardText}”` : "",
        ),
      );
    case "dtmf":
      return h(
        "li",
        { class: "ev dtmf" },
        at,
        h("span", { class: "who" }, "Keys"),
        h("span", { class: "text" }, `Caller pressed ${e.digits}`),
      );
    case "transfer":
      return h(
        "li",
        { class: "ev transfer" },
        at,
        h("span", { class: "who" }, "Transfer"),
        h("span", { class: "text" }, e.detail),
      );
    case "sms":
      return h(
        "li",
        { class: "ev sms" },
        at,
        h("span", { class: "who" }, "SMS"),
        h(
          "span",
          { class: "text" },
          `to ${e.to}${e.bookingId ? ` for ${e.bookingId}` : ""}${
            e.error ? ` failed: ${e.error}` : ""
          }`,
        ),
      );
    case "end":
      return h(
        "li",
        { class: "ev end" },
        at,
        h("span", { class: "who" }, "End"),
        h(
          "span",
          { class: "text" },
          `${outcomeLabel(e.outcome)}${e.endReason ? ` (${outcomeLabel(e.endReason)})` : ""}`,
        ),
      );
    default:
      return h(
        "li",
        { class: "ev note" },
        at,
        h("span", { class: "who" }, "Note"),
        h("span", { class: "text" }, e.text ?? e.kind),
      );
  }
}

// ---------------------------------------------------------------- live

const STATE_LABELS = {
  agent_speaking: "agent speaking",
  caller_speaking: "caller speaking",
  running_tool: "running a tool",
  listening: "listening",
};

function renderLive() {
  const list = h("div", { class: "live-calls" }, h("p", { class: "muted" }, "Connecting…"));
  const status = h(
    "p",
    { class: "muted" },
    "Calls in progress on this instance; updates as they happen.",
  );
  show(h("h1", {}, "Live calls"), status, list);
  let calls = [];
  const draw = () => {
    if (calls.length === 0) {
      list.replaceChildren(h("p", { class: "muted empty" }, "No calls in progress."));
      return;
    }
    list.replaceChildren(...calls.map((c) => {
      const lines = h(
        "ol",
        { class: "transcript" },
        ...c.transcript.map((t) =>
          h(
            "li",
            { class: t.role },
            h(
              "span",
              { class: "who" },
              t.role === "caller" ? "Caller" : t.role === "agent" ? "Agent" : "Note",
            ),
            h("span", { class: "text" }, t.text),
            t.interrupted ? h("span", { class: "badge" }, "interrupted") : null,
          )
        ),
      );
      const card = h(
        "article",
        { class: `live-call ${c.state}`, dataset: { sid: c.callSid } },
        h(
          "header",
          {},
          h("strong", {}, c.from || "unknown caller"),
          h(
            "span",
            { class: "duration", dataset: { started: c.startedAt } },
            fmtDuration(Date.now() - Date.parse(c.startedAt)),
          ),
          h("span", { class: `state ${c.state}` }, STATE_LABELS[c.state] ?? c.state),
        ),
        lines,
      );
      return card;
    }));
    for (const t of list.querySelectorAll(".transcript")) t.scrollTop = t.scrollHeight;
  };
  const source = new EventSource("/console/api/live");
  source.addEventListener("calls", (e) => {
    calls = JSON.parse(e.data);
    draw();
  });
  source.addEventListener("error", () => {
    status.textContent = "Connection lost; reconnecting…";
  });
  source.addEventListener("open", () => {
    status.textContent = "Calls in progress on this instance; updates as they happen.";
  });
  const tick = setInterval(() => {
    for (const d of list.querySelectorAll(".duration")) {
      d.textContent = fmtDuration(Date.now() - Date.parse(d.dataset.started));
    }
  }, 1000);
  cleanup = () => {
    source.close();
    clearInterval(tick);
  };
}

// ---------------------------------------------------------------- quality

const qualityState = { days: 7, from: undefined, to: undefined };

async function renderQuality() {
  const st = qualityState;
  const today = (await api("calendar", { date: "today", days: 1 })).data.today;
  const to = st.to ?? today;
  const from = st.from ?? addDays(to, -(st.days - 1));
  const res = await api("quality", { from, to });
  if (!res.ok) return show(errorBox(res.data.error?.message ?? "No figures."));
  const q = res.data;
  const preset = (days, label) =>
    h("button", {
      type: "button",
      class: st.days === days && !st.from ? "on" : "",
      onclick: () => {
        Object.assign(st, { days, from: undefined, to: undefined });
        renderQuality();
      },
    }, label);
  const fromInput = h("input", { type: "date", name: "from", value: from });
  const toInput = h("input", { type: "date", name: "to", value: to });
  const t = q.totals;
  const kpi = (label, value) =>
    h("div", { class: "kpi" }, h("span", { class: "label" }, label), h("strong", {}, value));
  const charts = h("div", { class: "charts" });
  show(
    h("h1", {}, "Quality"),
    h(
      "form",
      {
        class: "toolbar",
        onsubmit: (e) => {
          e.preventDefault();
          Object.assign(st, { from: fromInput.value, to: toInput.value });
          renderQuality();
        },
      },
      h(
        "div",
        { class: "segmented" },
        preset(1, "Today"),
        preset(7, "7 days"),
        preset(30, "30 days"),
      ),
      h("label", {}, "From ", fromInput),
      h("label", {}, "to ", toInput),
      h("button", { type: "submit" }, "Show"),
    ),
    h("p", { class: "muted" }, `Per ${q.bucket} in ${q.timeZone}.`),
    h(
      "div",
      { class: "kpis" },
      kpi("Calls", t.calls),
      kpi("Booked", `${t.booked}${t.conversion === null ? "" : ` (${t.conversion} %)`}`),
      kpi("Turn p50 / p95", `${fmtMs(t.latencyP50)} / ${fmtMs(t.latencyP95)}`),
      kpi("Barge-ins per call", t.bargeInsPerCall ?? "—"),
      kpi("Reconnects / apologies", `${t.reconnects} / ${t.apologies}`),
      kpi("Tool errors", t.toolErrors),
    ),
    charts,
  );
  const plots = drawCharts(charts, q);
  const resize = () => {
    for (const p of plots) p.plot.setSize(chartSize(p.box));
  };
  addEventListener("resize", resize);
  cleanup = () => {
    removeEventListener("resize", resize);
    for (const p of plots) p.plot.destroy();
  };
}

function chartSize(box) {
  return { width: Math.max(260, box.clientWidth - 4), height: 180 };
}

function drawCharts(container, q) {
  if (!globalThis.uPlot) {
    container.append(errorBox("The chart library did not load."));
    return [];
  }
  const U = globalThis.uPlot;
  const tzDate = (ts) => U.tzDate(new Date(ts * 1e3), q.timeZone);
  const bars = U.paths.bars({ size: [0.7, 40] });
  const specs = [
    { id: "calls", title: `Calls per ${q.bucket}`, series: [["Calls", q.calls, "#2b6cb0", bars]] },
    {
      id: "conversion",
      title: "Booking conversion (%)",
      series: [["Booked %", q.conversion, "#2f855a"]],
    },
    {
      id: "latency",
      title: "Turn latency (ms)",
      series: [["p50", q.latencyP50, "#2b6cb0"], ["p95", q.latencyP95, "#c05621"]],
    },
    {
      id: "bargeins",
      title: "Barge-ins per call",
      series: [["Barge-ins", q.bargeInsPerCall, "#6b46c1"]],
    },
    {
      id: "model",
      title: "Model reconnects and apologies",
      series: [["Reconnects", q.reconnects, "#b7791f", bars], [
        "Apologies",
        q.apologies,
        "#c53030",
        bars,
      ]],
    },
    { id: "tools", title: "Tool errors", series: [["Tool errors", q.toolErrors, "#c53030", bars]] },
  ];
  return specs.map((spec) => {
    const box = h("figure", {
      class: "chart",
      dataset: { chart: spec.id, points: String(q.times.length) },
    }, h("figcaption", {}, spec.title));
    container.append(box);
    const plot = new U(
      {
        ...chartSize(box),
        tzDate,
        scales: {
          x: { time: true },
          y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, max ?? 1) * 1.1] },
        },
        series: [
          {},
          ...spec.series.map(([label, , stroke, paths]) => ({
            label,
            stroke,
            fill: paths ? `${stroke}99` : undefined,
            width: 2,
            spanGaps: true,
            paths,
            points: { show: !paths },
          })),
        ],
        axes: [{}, { size: 50 }],
        legend: { show: true },
      },
      [q.times, ...spec.series.map(([, values]) => values)],
      box,
    );
    return { box, plot };
  });
}

// ---------------------------------------------------------------- business profile

async function renderProfile(_arg, reload) {
  const res = reload ?? (await api("profile"));
  const { path, loadedAt, lastAttempt, profile: p } = res.data;
  const money = (s) => fmtMoney(s.price, s.currency, p.locale);
  const last = lastAttempt
    ? lastAttempt.ok
      ? notice(`Reloaded at ${fmtDateTime(lastAttempt.at, p.timeZone, p.locale)}.`)
      : h(
        "div",
        { class: "error reload-error", role: "alert" },
        h(
          "strong",
          {},
          `Reload at ${
            fmtDateTime(lastAttempt.at, p.timeZone, p.locale)
          } refused; the profile below is still in force.`,
        ),
        lastAttempt.problems
          ? h("ul", {}, ...lastAttempt.problems.map((x) => h("li", {}, x)))
          : h("pre", {}, lastAttempt.error),
      )
    : null;
  const weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
  show(
    h("h1", {}, p.name),
    h(
      "p",
      { class: "muted" },
      "As the agent sees it, from ",
      h("code", { class: "path" }, path),
      `, loaded ${fmtDateTime(loadedAt, p.timeZone, p.locale)}.`,
    ),
    h(
      "div",
      { class: "actions" },
      h("button", {
        type: "button",
        class: "primary reload",
        onclick: async () => renderProfile(undefined, await api("profile/reload")),
      }, "Reload from file"),
      h(
        "span",
        { class: "muted" },
        " (also on SIGHUP; a broken file is refused and this one stays)",
      ),
    ),
    last,
    h("p", {}, `${p.phone} · ${p.address} · ${p.timeZone} · ${p.locale}`),
    h("h2", {}, "Services"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "services" },
        h(
          "thead",
          {},
          h("tr", {}, ...["Service", "Length", "Price", "Also called"].map((x) => h("th", {}, x))),
        ),
        h(
          "tbody",
          {},
          ...p.services.map((s) =>
            h(
              "tr",
              { dataset: { id: s.id } },
              h(
                "td",
                {},
                h("strong", {}, s.name),
                s.description ? h("div", { class: "muted" }, s.description) : null,
              ),
              h("td", {}, `${s.durationMinutes} min`),
              h("td", { class: "num" }, money(s)),
              h("td", {}, s.aliases.join(", ")),
            )
          ),
        ),
      ),
    ),
    h("h2", {}, "Opening hours"),
    h(
      "table",
      { class: "hours" },
      h(
        "tbody",
        {},
        ...weekdays.map((d) =>
          h(
            "tr",
            {},
            h("th", {}, d[0].toUpperCase() + d.slice(1)),
            h(
              "td",
              {},
              p.openingHours[d].length
                ? p.openingHours[d].map((r) => `${r.open}–${r.close}`).join(", ")
                : "closed",
            ),
          )
        ),
      ),
    ),
    h("h2", {}, "Closed dates"),
    p.closedDates.length
      ? h(
        "ul",
        {},
        ...p.closedDates.map((c) =>
          h(
            "li",
            {},
            `${fmtDay(c.date, p.locale)} ${c.date.slice(0, 4)}${c.reason ? `: ${c.reason}` : ""}`,
          )
        ),
      )
      : h("p", { class: "muted" }, "None."),
    h("h2", {}, "Booking rules"),
    h(
      "ul",
      {},
      h("li", {}, `${p.capacity} appointment(s) at the same time`),
      h("li", {}, `Start times every ${p.slotStepMinutes} minutes`),
      h(
        "li",
        {},
        `At least ${p.minNoticeMinutes} minutes' notice; up to ${p.bookingHorizonDays} days ahead`,
      ),
    ),
    h("h2", {}, "Policies"),
    h(
      "ul",
      {},
      ...Object.entries(p.policies).map(([k, v]) => h("li", {}, h("strong", {}, `${k}: `), v)),
    ),
  );
}

// ---------------------------------------------------------------- start

addEventListener("hashchange", route);
route();
