/* Site search: the browser half of govsite/search/query.py, step for step, so a page ranks the
   same here as in `govsite search`. It fetches only the index files a query needs (meta, one
   shard per term, the records of the results shown) from the site's own _search/ folder: no
   server, no WebAssembly, no eval, nothing from another origin. Every word it shows comes
   from data-msg-* attributes and the filter options of the page, so themes translate it. */
(function () {
  "use strict";
  var page = document.querySelector("[data-search]");
  if (!page) return;

  /* ---- Text analysis: govsite/search/analysis.py; tests/search_vectors.json pins both. ---- */
  var CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff";
  var RUN = new RegExp("[" + CJK + "]+|[a-z0-9]+", "g");
  var CJK_CHAR = new RegExp("[" + CJK + "]"), CJK_ALL = new RegExp("[" + CJK + "]", "g");
  var DOC_NUMBER = new RegExp("([" + CJK + "]{1,12}?)\\s*[\\[(〔【]?\\s*((?:19|20)[0-9]{2})" +
    "\\s*[\\])〕】年]?\\s*第?\\s*([0-9]{1,4})\\s*号", "g");
  var ORDER_NUMBER = new RegExp("([" + CJK + "]{1,12}?令)\\s*第?\\s*([0-9]{1,5})\\s*号", "g");
  var QUESTION = new RegExp("了?(?:怎么办(?!理)|怎么样|怎么|怎样|如何|为什么|为啥|什么|哪里|哪儿|哪些|" +
    "哪个|多少钱|多少|能不能|可不可以|可以吗|是不是|有没有|是否|需要什么)|[吗呢吧啊?]+$", "g");
  var ENGLISH_STOP = new Set(("a an the for to of in on at by with and or is are be do doe did i me my " +
    "we our you your it how what when where which who can could should would will if").split(" "));
  var MAX_VARIANTS = 4, FORMAT = 3;

  function normalize(text) { return text.normalize("NFKC").toLowerCase(); }

  function fold(text, table) {
    return text.replace(CJK_ALL, function (c) { return table[c] || c; });
  }

  function stem(word) {
    return /^[a-z]+$/.test(word) && window.govsiteStemEnglish ? window.govsiteStemEnglish(word) : word;
  }

  function tokens(text) {
    var out = [];
    (text.match(RUN) || []).forEach(function (run) {
      if (run.charCodeAt(0) < 128) out.push(stem(run));
      else if (run.length === 1) out.push(run);
      else for (var i = 0; i < run.length - 1; i++) out.push(run.slice(i, i + 2));
    });
    return out;
  }

  var BARE_ORDER = /第\s*([0-9]{1,5})\s*号令/g;

  // Document numbers in a query, as index terms: the number with each 2- to 4-character
  // ending of its issuer (analysis.number_terms with query=True).
  function numberTerms(text) {
    var found = [], terms = [], m;
    DOC_NUMBER.lastIndex = ORDER_NUMBER.lastIndex = BARE_ORDER.lastIndex = 0;
    while ((m = DOC_NUMBER.exec(text))) found.push([m[1], m[2] + "-" + parseInt(m[3], 10) + "号"]);
    while ((m = ORDER_NUMBER.exec(text))) found.push([m[1], parseInt(m[2], 10) + "号"]);
    while ((m = BARE_ORDER.exec(text))) found.push(["令", parseInt(m[1], 10) + "号"]);
    found.forEach(function (f) {
      for (var n = Math.min(f[0].length, 4); n > 1; n--) terms.push("#" + f[0].slice(f[0].length - n) + f[1]);
      if (f[0] === "令") terms.push("#令" + f[1]);
    });
    return unique(terms);
  }

  function unique(list) {
    var seen = new Set();
    return list.filter(function (x) { return !seen.has(x) && seen.add(x); });
  }

  function queryTerms(folded) {
    var terms = tokens(folded.replace(QUESTION, " ")).filter(function (t) { return !ENGLISH_STOP.has(t); });
    if (!terms.length) terms = tokens(folded);
    return unique(terms.concat(numberTerms(folded)));
  }

  function variants(folded, synonyms) {
    var out = [folded];
    synonyms.forEach(function (group) {
      var present = group.filter(function (w) { return folded.indexOf(w) >= 0; });
      if (!present.length) return;
      var used = present.reduce(function (a, b) { return b.length > a.length ? b : a; });
      group.forEach(function (other) { if (other !== used) out.push(folded.split(used).join(other)); });
    });
    return unique(out).slice(0, MAX_VARIANTS + 1);
  }

  var CRC = [];
  for (var n = 0; n < 256; n++) {
    var c = n;
    for (var k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
    CRC[n] = c;
  }

  function shardOf(term, count) {
    var bytes = new TextEncoder().encode(term), crc = -1;
    for (var i = 0; i < bytes.length; i++) crc = CRC[(crc ^ bytes[i]) & 255] ^ (crc >>> 8);
    return ((crc ^ -1) >>> 0) % count;
  }

  /* ---- The index: each file fetched once, relative to the page's own _search/meta.json. ---- */
  var base = new URL(page.getAttribute("data-index"), location.href);
  var files = {};

  function load(path) {
    if (!files[path]) {
      files[path] = fetch(new URL(path, base)).then(function (r) {
        if (!r.ok) throw new Error(path + ": " + r.status);
        return r.json();
      });
    }
    return files[path];
  }

  function postings(meta, terms) {
    return Promise.all(terms.map(function (term) {
      return load("t/" + shardOf(term, meta.shards) + ".json").then(function (shard) {
        return Object.prototype.hasOwnProperty.call(shard, term) ? shard[term] : null;
      });
    }));
  }

  /* Traditional characters are folded with only the buckets of the table that hold characters
     of terms the index does not know; the index is folded, so that finds every one of them. */
  function simplified(meta, text) {
    var terms = queryTerms(text);
    return postings(meta, terms).then(function (found) {
      var chars = new Set();
      terms.forEach(function (term, i) {
        if (found[i] === null) for (var ch of term) if (CJK_CHAR.test(ch)) chars.add(ch);
      });
      var buckets = unique(Array.from(chars).map(function (ch) { return ch.codePointAt(0) % meta.t2s; }));
      return Promise.all(buckets.map(function (b) { return load(meta.t2s_path + b + ".json"); }));
    }).then(function (tables) {
      return fold(text, Object.assign.apply(null, [{}].concat(tables)));
    });
  }

  function needStemmer(text) {
    if (!/[a-z]/.test(text) || window.govsiteStemEnglish) return Promise.resolve();
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = page.getAttribute("data-stemmer");
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  var CHECKED = 10, TITLE_BOOST = 0.5, EXACT_TITLE_BOOST = 1, NATIONAL = "中华人民共和国";

  function search(query, filters, offset, limit) {
    var meta, folded, suggestion = "", best = new Map(), numbered = new Set();
    var text = normalize(query);
    return Promise.all([load("meta.json"), needStemmer(text)]).then(function (loaded) {
      meta = loaded[0];
      // An index from another release (a stale cache, a half-finished deploy): say so.
      if (meta.format !== FORMAT) throw new Error("search index format " + meta.format);
      // Fetch the synonym wordings' shards alongside the query's own: folding traditional
      // characters, which would change the wordings, is rare.
      variants(text, meta.synonyms).slice(1).forEach(function (variant) {
        postings(meta, queryTerms(variant)).catch(function () { /* searched again below */ });
      });
      return simplified(meta, text);
    }).then(function (result) {
      folded = result;
      return Promise.all(variants(folded, meta.synonyms).map(add));
    }).then(titles).then(function (top) {
      // A mistyped word: if the top titles hold a word one character away, search for it too.
      suggestion = correction(folded, top.titles);
      return suggestion && add(suggestion);
    }).then(titles).then(function (top) {
      rerank(suggestion || folded, top);
      var list = ranked();
      return filters.active ? filtered(meta, list, filters) : list;
    }).then(function (list) {
      return Promise.all(list.slice(offset, offset + limit).map(function (doc) {
        return hit(meta, doc, best.get(doc));
      })).then(function (hits) {
        return { hits: hits, total: list.length, query: folded, suggestion: suggestion };
      });
    });

    function add(variant) {
      var terms = queryTerms(variant);
      return postings(meta, terms).then(function (lists) { score(terms, lists); });
    }

    // Pages matching more of the query's terms come first, without requiring all of them.
    function score(terms, lists) {
      var scores = new Map(), matched = new Map();
      terms.forEach(function (term, t) {
        var flat = lists[t] || [], doc = 0;
        for (var i = 0; i < flat.length; i += 2) {
          doc += flat[i];
          scores.set(doc, (scores.get(doc) || 0) + flat[i + 1]);
          matched.set(doc, (matched.get(doc) || 0) + 1);
          if (term.charAt(0) === "#") numbered.add(doc);
        }
      });
      scores.forEach(function (value, doc) {
        var weighted = value / meta.scale * (matched.get(doc) / terms.length);
        if (weighted > (best.get(doc) || 0)) best.set(doc, weighted);
      });
    }

    // A document whose number the query names first, then by score.
    function ranked() {
      return Array.from(best.keys()).sort(function (a, b) {
        return (numbered.has(b) - numbered.has(a)) || (best.get(b) - best.get(a)) || (a - b);
      });
    }

    function titles() {
      var docs = ranked().slice(0, CHECKED);
      return Promise.all(docs.map(function (doc) { return record(meta, doc); })).then(function (rs) {
        return { docs: docs, records: rs, titles: rs.map(function (r) { return normalize(r[1]); }) };
      });
    }

    // The top results, by their records (query.rerank): titles holding the query's words,
    // a title that is the query, then weights by kind, service guides for questions, freshness.
    function rerank(q, top) {
      var words = q.replace(QUESTION, " ").match(RUN) || q.match(RUN);
      if (!words) return;
      var ranking = meta.ranking, newest = days(ranking.newest);
      QUESTION.lastIndex = 0;
      var asks = QUESTION.test(q) || tokens(q).indexOf("how") >= 0;
      top.docs.forEach(function (doc, i) {
        var title = top.titles[i], kind = top.records[i][4], date = top.records[i][5];
        var held = words.filter(function (w) { return title.indexOf(w) >= 0; }).length / words.length;
        var bare = title.indexOf(NATIONAL) === 0 ? title.slice(NATIONAL.length) : title;
        var exact = (bare.match(RUN) || []).join("") === words.join("");
        var factor = 1 + TITLE_BOOST * held + EXACT_TITLE_BOOST * exact;
        factor *= Object.prototype.hasOwnProperty.call(ranking.kinds, kind) ? ranking.kinds[kind] : 1;
        if (asks && kind === "service") factor *= ranking.service_questions;
        if (ranking.freshness && date) factor *= 1 + ranking.freshness * Math.max(0, 1 - (newest - days(date)) / 730);
        best.set(doc, best.get(doc) * factor);
      });
    }
  }

  function days(date) {
    return date ? Date.UTC(+date.slice(0, 4), +date.slice(5, 7) - 1, +date.slice(8, 10)) / 864e5 : 0;
  }

  // The query with one mistyped word corrected from the top titles, or "" (query.correction).
  function correction(folded, titles) {
    var words = unique(folded.replace(QUESTION, " ").match(RUN) || []);
    for (var w = 0; w < words.length; w++) {
      var word = words[w];
      if (word.length < 3 || !CJK_CHAR.test(word.charAt(0))) continue;
      if (titles.some(function (t) { return t.indexOf(word) >= 0; })) continue;
      for (var t = 0; t < titles.length; t++) {
        var found = oneAway(word, titles[t]);
        if (found) return folded.split(word).join(found);
      }
    }
    return "";
  }

  function oneAway(word, title) {
    var sizes = [word.length, word.length + 1, word.length - 1];
    for (var s = 0; s < sizes.length; s++) {
      for (var start = 0; start + sizes[s] <= title.length; start++) {
        var stretch = title.slice(start, start + sizes[s]), close = false, i;
        if (sizes[s] === word.length) {
          var differ = 0;
          for (i = 0; i < word.length; i++) differ += word[i] !== stretch[i];
          close = differ === 1;
        } else {
          var longer = sizes[s] > word.length ? stretch : word, shorter = sizes[s] > word.length ? word : stretch;
          for (i = 0; i < longer.length && !close; i++) close = longer.slice(0, i) + longer.slice(i + 1) === shorter;
        }
        if (close && CJK_CHAR.test(stretch.charAt(0)) && CJK_CHAR.test(stretch.charAt(stretch.length - 1))) return stretch;
      }
    }
    return "";
  }

  function filtered(meta, ranked, filters) {
    return load("a.json").then(function (attributes) {
      var kept = ranked.filter(function (doc) {
        var a = attributes[doc];
        return (!filters.site || meta.sites[a[0]][0] === filters.site) &&
          (!filters.kind || a[1] === filters.kind) &&
          (!filters.year || a[2].slice(0, 4) === filters.year) &&
          (!filters.validity || a[3] === filters.validity);
      });
      if (filters.sort === "date") {  // newest first, undated last; a stable sort keeps rank
        kept.sort(function (a, b) {
          var x = attributes[a][2] || "0", y = attributes[b][2] || "0";
          return x < y ? 1 : x > y ? -1 : 0;
        });
      }
      return kept;
    });
  }

  function record(meta, doc) {
    return load("d/" + Math.floor(doc / meta.records) + ".json").then(function (records) {
      return records[doc % meta.records];
    });
  }

  function hit(meta, doc, score) {
    return record(meta, doc).then(function (r) {
      var site = meta.sites[r[2]];
      return { url: site[2] + r[0], title: r[1], site: site[0], siteName: site[1], column: r[3],
        kind: r[4], date: r[5], validity: r[6], excerpt: r[7], score: score };
    });
  }

  // For tests and tools: the analysis and the search, exactly as this page runs them.
  window.govsiteSearch = { normalize: normalize, fold: fold, tokens: tokens,
    queryTerms: queryTerms, variants: variants, shardOf: shardOf, search: search };

  /* ---- The page: the query lives in the URL, so results can be shared and bookmarked. ---- */
  var form = page.querySelector("form");
  var input = form.querySelector("input[name=q]");
  var list = page.querySelector("[data-search-results]");
  var status = page.querySelector("[data-search-status]");
  var suggest = page.querySelector("[data-search-suggest]");
  var more = page.querySelector("[data-search-more]");
  var widen = page.querySelector("[data-search-widen]");
  var selects = Array.prototype.slice.call(form.querySelectorAll("select"));
  var PAGE = parseInt(page.getAttribute("data-page-size"), 10) || 10, shown = 0, current = null;
  var filterBox = page.querySelector("[data-search-filters]");
  filterBox.hidden = false;
  filterBox.open = window.matchMedia("(min-width: 48em)").matches ||
    selects.some(function (s) { return new URLSearchParams(location.search).get(s.name); });

  function message(name, values) {
    return (page.getAttribute("data-msg-" + name) || "").replace(/\{(\w+)\}/g, function (_, key) {
      return values && key in values ? values[key] : "";
    });
  }

  function optionText(name, value) {
    var select = form.querySelector("select[name=" + name + "]");
    var option = select && Array.prototype.find.call(select.options, function (o) { return o.value === value; });
    return option ? option.textContent.trim() : "";
  }

  function readURL() {
    var params = new URLSearchParams(location.search);
    input.value = params.get("q") || "";
    var filters = { active: false };
    selects.forEach(function (select) {
      var value = params.get(select.name) || "";
      if (Array.prototype.some.call(select.options, function (o) { return o.value === value; })) {
        select.value = value;
      }
      filters[select.name] = select.value;
      filters.active = filters.active || !!select.value;
    });
    return filters;
  }

  function writeURL() {
    var params = new URLSearchParams();
    if (input.value.trim()) params.set("q", input.value.trim());
    selects.forEach(function (s) { if (s.value) params.set(s.name, s.value); });
    history.pushState(null, "", "?" + params.toString());
  }

  function run() {
    var filters = readURL(), query = input.value.trim();
    if (widen) widen.search = query ? "?q=" + encodeURIComponent(query) : "";
    list.textContent = "";
    suggest.hidden = more.hidden = true;
    shown = 0;
    if (!query) { status.textContent = ""; return; }
    current = { query: query, filters: filters };
    page.setAttribute("data-search-state", "busy");
    status.textContent = message("busy");
    next(current);
  }

  function next(request) {
    search(request.query, request.filters, shown, PAGE).then(function (result) {
      if (request !== current) return;  // a newer search has started
      var first = list.children.length;
      result.hits.forEach(function (h) { list.appendChild(item(h, result.query)); });
      shown += result.hits.length;
      more.hidden = shown >= result.total;
      status.textContent = result.total ? message("count", { n: result.total })
        : message("none", { q: request.query });
      if (result.suggestion) offer(message("suggest"), [result.suggestion]);
      else if (!result.total) load("meta.json").then(function (meta) { offer(message("hot"), meta.hot); });
      if (first && list.children[first]) list.children[first].querySelector("a").focus();
      page.setAttribute("data-search-state", "done");
    }).catch(function () {
      if (request !== current) return;
      status.textContent = message("failed");
      page.setAttribute("data-search-state", "failed");
    });
  }

  // "Did you mean" and hot words: links to searches, so they can be opened and shared.
  function offer(label, words) {
    if (!words.length) return;
    suggest.textContent = label + " ";
    words.forEach(function (word, i) {
      var a = document.createElement("a");
      a.href = "?q=" + encodeURIComponent(word);
      a.textContent = word;
      if (i) suggest.appendChild(document.createTextNode("　"));
      suggest.appendChild(a);
    });
    suggest.hidden = false;
  }

  function item(h, query) {
    var li = document.createElement("li"), a = document.createElement("a");
    li.className = "search-result";
    a.href = h.url;
    highlight(a, h.title, query);
    var title = document.createElement("h2");
    title.appendChild(a);
    var facts = document.createElement("p");
    facts.className = "search-facts";
    facts.textContent = [h.siteName, h.column, h.date, h.validity && optionText("validity", h.validity)]
      .filter(Boolean).join(" · ");
    var snippet = document.createElement("p");
    snippet.className = "search-snippet";
    highlight(snippet, h.excerpt, query);
    li.appendChild(title);
    li.appendChild(facts);
    li.appendChild(snippet);
    return li;
  }

  /* Marks the characters of the text that belong to a query bigram, and the words whose stem
     is a query word; built from text nodes, never from HTML. */
  function highlight(element, text, query) {
    var words = new Set(queryTerms(query)), marked = [];
    var folded = Array.from(text).map(function (ch) { return normalize(ch); });
    for (var i = 0; i < folded.length; i++) {
      if (i + 1 < folded.length && words.has(folded[i] + folded[i + 1])) marked[i] = marked[i + 1] = true;
      if (words.has(folded[i]) && CJK_CHAR.test(folded[i])) marked[i] = true;
    }
    var latin = /[a-z0-9]+/g, m, joined = folded.join("");
    if (joined.length === folded.length) {
      while ((m = latin.exec(joined))) {
        if (words.has(stem(m[0]))) for (var j = m.index; j < m.index + m[0].length; j++) marked[j] = true;
      }
    }
    var chars = Array.from(text), start = 0;
    for (var e = 1; e <= chars.length; e++) {
      if (e === chars.length || !!marked[e] !== !!marked[start]) {
        var piece = chars.slice(start, e).join("");
        if (marked[start]) {
          var mark = document.createElement("mark");
          mark.textContent = piece;
          element.appendChild(mark);
        } else {
          element.appendChild(document.createTextNode(piece));
        }
        start = e;
      }
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    writeURL();
    run();
  });
  selects.forEach(function (select) {
    select.addEventListener("change", function () { if (input.value.trim()) { writeURL(); run(); } });
  });
  more.addEventListener("click", function () { if (current) next(current); });
  window.addEventListener("popstate", run);
  run();
})();
