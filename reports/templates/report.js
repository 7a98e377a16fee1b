(function () {
  "use strict";
  var SEV = ["info", "low", "medium", "high", "critical"];
  var PAGE = 50;
  var doc = document;

  function $(id) { return doc.getElementById(id); }
  function el(tag, cls, text) {
    var e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function openTo(target) {
    // A credential card can sit inside the closed "show more" fold: open it before jumping.
    var d = target && target.closest ? target.closest("details") : null;
    if (d && !d.open) d.open = true;
  }
  function inflate(b64) {
    // Large blocks are embedded gzip-compressed; inflate them locally, nothing is fetched.
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error("this browser cannot unpack compressed report data; use the JSON report"));
    }
    var bin = atob(b64.trim()), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }

  /* ---- folds (lower-risk cards, more backups): large ones are embedded compressed, unpacked on use ---- */
  var cards = Array.prototype.slice.call(doc.querySelectorAll("article.card"));
  var unpacking = {};
  function loadFold(name) {
    var holder = $(name + "-data");
    if (!holder) return Promise.resolve();
    if (!unpacking[name]) {
      unpacking[name] = inflate(holder.textContent).then(function (html) {
        // Our own server-rendered, autoescaped markup, moved out of the initial parse for speed.
        ["-data", "-wait", "-print"].forEach(function (sfx) { var e = $(name + sfx); if (e) e.remove(); });
        $(name + "-box").insertAdjacentHTML("beforeend", html);
        cards = Array.prototype.slice.call(doc.querySelectorAll("article.card"));
      });
      unpacking[name].catch(function (err) {
        var wait = $(name + "-wait");
        if (wait) wait.textContent = "Could not unpack: " + err.message;
        console.error(err);
      });
    }
    return unpacking[name];
  }
  var folds = Array.prototype.slice.call(doc.querySelectorAll("details[data-fold]"));
  folds.forEach(function (d) {
    d.addEventListener("toggle", function () { if (d.open) loadFold(d.id); });
  });
  function loadMoreCards() { return loadFold("more-cards"); }
  var fold = $("more-cards");

  function jumpToHash() {
    if (!location.hash) return;
    var id = decodeURIComponent(location.hash.slice(1)), t = doc.getElementById(id);
    if (t) { openTo(t); t.scrollIntoView(); return; }
    Promise.all(folds.map(function (d) { return loadFold(d.id); })).then(function () {
      var t2 = doc.getElementById(id);
      if (t2) { openTo(t2); t2.scrollIntoView(); }
    });
  }
  window.addEventListener("hashchange", jumpToHash);

  /* ---- credential cards: filter ---- */
  var credQ = $("cred-q"), credStatus = $("cred-status");
  if (credQ) {
    var credTimer = 0;
    credQ.addEventListener("input", function () {
      clearTimeout(credTimer);
      credTimer = setTimeout(function () { loadMoreCards().then(applyCredFilter); }, 120);
    });
  }
  function applyCredFilter() {
    var terms = credQ.value.toLowerCase().split(/\s+/).filter(Boolean), shown = 0;
    cards.forEach(function (c) {
      var q = c.getAttribute("data-q") || "", ok = terms.every(function (t) { return q.indexOf(t) >= 0; });
      c.hidden = !ok;
      if (ok) shown++;
    });
    if (fold && terms.length) fold.open = true;
    credStatus.textContent = terms.length ? shown + " of " + cards.length + " credentials match" : "";
  }

  /* ---- findings: compact JSON, filtered and paged in the browser ---- */
  function loadFindings() {
    var blob = $("findings-data");
    if (!blob) return Promise.resolve({ s: [""], f: [] });
    var enc = blob.getAttribute("data-encoding");
    if (!enc) return Promise.resolve(JSON.parse(blob.textContent));
    if (enc !== "gzip+base64") return Promise.reject(new Error("unknown findings encoding " + enc));
    return inflate(blob.textContent).then(JSON.parse);
  }
  var S = [""], F = [], lower = null;
  var body = $("f-body"), status = $("f-status"), q = $("f-q");
  var boxes = Array.prototype.slice.call(doc.querySelectorAll("input[name=sev]"));
  var sevOn = [true, true, true, true, true];
  var terms = [], termHits = [], matches = [], page = 0;

  function stringMatches(ti, si) {
    var h = termHits[ti], v = h[si];
    if (v === 0) {
      if (lower === null) lower = new Array(S.length);
      var s = lower[si];
      if (s === undefined) s = lower[si] = S[si].toLowerCase();
      v = h[si] = s.indexOf(terms[ti]) >= 0 ? 2 : 1;
    }
    return v === 2;
  }
  function rowMatches(r) {
    for (var t = 0; t < terms.length; t++) {
      if (r[0].indexOf(terms[t]) >= 0) continue;
      if (stringMatches(t, r[1]) || stringMatches(t, r[3]) || stringMatches(t, r[5]) ||
          stringMatches(t, r[6]) || stringMatches(t, r[7]) || stringMatches(t, r[8])) continue;
      return false;
    }
    return true;
  }
  function filter() {
    terms = (q ? q.value : "").toLowerCase().split(/\s+/).filter(Boolean);
    termHits = terms.map(function () { return new Uint8Array(S.length); });
    var out = [];
    for (var i = 0; i < F.length; i++) {
      var r = F[i];
      if (!sevOn[r[2]]) continue;
      if (terms.length && !rowMatches(r)) continue;
      out.push(i);
    }
    matches = out;
    page = 0;
    render();
  }
  function rowFor(r) {
    var tr = el("tr");
    var sev = SEV[r[2]];
    var td = el("td"); td.appendChild(el("span", "sev s-" + sev, sev)); tr.appendChild(td);
    td = el("td"); td.appendChild(el("code", null, S[r[1]])); tr.appendChild(td);
    td = el("td");
    if (r[4]) { var a = el("a", null, S[r[3]]); a.href = "#" + S[r[4]]; td.appendChild(a); }
    else td.textContent = S[r[3]];
    if (r[7]) td.appendChild(el("div", "muted", S[r[7]]));
    tr.appendChild(td);
    td = el("td", "msg"); td.appendChild(el("div", null, S[r[5]]));
    if (r[6]) td.appendChild(el("div", "rem", "Fix: " + S[r[6]]));
    tr.appendChild(td);
    td = el("td", "loc");
    if (r[8]) td.appendChild(el("code", null, S[r[8]] + (r[9] ? ":" + r[9] : "")));
    tr.appendChild(td);
    return tr;
  }
  function fmt(n) { return n.toLocaleString("en-US"); }
  function pages() { return Math.max(1, Math.ceil(matches.length / PAGE)); }
  function render(limit) {
    var start = limit ? 0 : page * PAGE, end = Math.min(matches.length, start + (limit || PAGE));
    var frag = doc.createDocumentFragment();
    for (var i = start; i < end; i++) frag.appendChild(rowFor(F[matches[i]]));
    body.textContent = "";
    body.appendChild(frag);
    if (!matches.length) {
      var tr = el("tr"), td = el("td", "muted", F.length ? "No finding matches these filters." : "No findings.");
      td.colSpan = 5; tr.appendChild(td); body.appendChild(tr);
    }
    status.textContent = matches.length
      ? "Showing " + fmt(start + 1) + "–" + fmt(end) + " of " + fmt(matches.length) + " matching findings (" + fmt(F.length) + " in total)"
      : "0 of " + fmt(F.length) + " findings match";
    $("f-page").textContent = "Page " + fmt(page + 1) + " of " + fmt(pages());
    $("f-first").disabled = $("f-prev").disabled = page === 0;
    $("f-next").disabled = $("f-last").disabled = page >= pages() - 1;
  }
  function go(p) { page = Math.max(0, Math.min(pages() - 1, p)); render(); }

  boxes.forEach(function (b) {
    b.addEventListener("change", function () { sevOn[SEV.indexOf(b.value)] = b.checked; filter(); });
  });
  if (q) {
    var timer = 0;
    q.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(filter, 150); });
    q.addEventListener("keydown", function (e) { if (e.key === "Enter") { clearTimeout(timer); filter(); } });
  }
  $("f-first").addEventListener("click", function () { go(0); });
  $("f-prev").addEventListener("click", function () { go(page - 1); });
  $("f-next").addEventListener("click", function () { go(page + 1); });
  $("f-last").addEventListener("click", function () { go(pages() - 1); });

  /* printing: open every fold and print up to 1,000 matching findings instead of one page */
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(doc.querySelectorAll("details"), function (d) { d.open = true; });
    render(1000);
  });
  window.addEventListener("afterprint", function () { render(); });

  jumpToHash();
  status.textContent = "Loading findings…";
  loadFindings().then(function (data) {
    S = data.s; F = data.f;
    filter();
    doc.documentElement.setAttribute("data-ready", "1");
    window.__blastwallReady = performance.now();
  }, function (err) {
    status.textContent = "Could not load the findings: " + err.message;
    doc.documentElement.setAttribute("data-ready", "error");
    console.error(err);
  });
})();
