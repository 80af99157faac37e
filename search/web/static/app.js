// The search page. Every value that comes from an article is put on the page as text
// (textContent, never parsed as markup); only http(s) addresses become links. The state of the page
// (query, filters, order, page, related article) lives in the address, so links can be shared
// and the back button works.
"use strict";

(function () {
  const PAGE_SIZE = 10;
  const DEBOUNCE_MS = 200;
  const FACETS = "topics,provider,year";
  const FACET_VALUES_SHOWN = 8;

  const input = document.getElementById("q");
  const sortSelect = document.getElementById("sort");
  const form = document.getElementById("search-form");
  const statusBox = document.getElementById("status");
  const hitsList = document.getElementById("hits");
  const facetsBox = document.getElementById("facets");
  const pagesNav = document.getElementById("pages");
  const foot = document.getElementById("foot");

  let sequence = 0;
  let inflight = null;
  let typingTimer = null;

  // -- state <-> address ---------------------------------------------------------------------

  function readState() {
    const params = new URLSearchParams(location.search);
    return {
      q: params.get("q") || "",
      related: params.get("related") || "",
      topic: params.getAll("topic"),
      provider: params.get("provider") || "",
      since: params.get("since") || "",
      until: params.get("until") || "",
      sort: params.get("sort") || "relevance",
      page: Math.max(1, parseInt(params.get("page") || "1", 10) || 1),
    };
  }

  function stateQuery(state) {
    const params = new URLSearchParams();
    if (state.related) params.set("related", state.related);
    else if (state.q) params.set("q", state.q);
    for (const topic of state.topic) params.append("topic", topic);
    if (state.provider) params.set("provider", state.provider);
    if (state.since) params.set("since", state.since);
    if (state.until) params.set("until", state.until);
    if (state.sort && state.sort !== "relevance") params.set("sort", state.sort);
    if (state.page > 1) params.set("page", String(state.page));
    const text = params.toString();
    return location.pathname + (text ? "?" + text : "");
  }

  function go(state, how) {
    const target = stateQuery(state);
    if (target !== location.pathname + location.search) {
      if (how === "replace") history.replaceState(null, "", target);
      else history.pushState(null, "", target);
    }
    show(state);
  }

  function withChanges(changes) {
    // A new query or filter starts again at the first page.
    return Object.assign(readState(), { page: 1 }, changes);
  }

  // -- talking to the API --------------------------------------------------------------------

  function apiPath(state) {
    const params = new URLSearchParams();
    let path = "/api/search";
    if (state.related) {
      path = "/api/related";
      params.set("url", state.related);
    } else {
      params.set("q", state.q);
    }
    for (const topic of state.topic) params.append("topic", topic);
    if (state.provider) params.set("provider", state.provider);
    if (state.since) params.set("since", state.since);
    if (state.until) params.set("until", state.until);
    if (state.sort !== "relevance") params.set("sort", state.sort);
    params.set("limit", String(PAGE_SIZE));
    params.set("offset", String((state.page - 1) * PAGE_SIZE));
    params.set("facets", FACETS);
    return path + "?" + params.toString();
  }

  async function show(state) {
    input.value = state.related ? "" : state.q;
    sortSelect.value = state.sort;
    const mine = ++sequence;
    if (inflight) inflight.abort();
    if (!state.q.trim() && !state.related) {
      inflight = null;
      clear();
      document.title = "News search";
      return;
    }
    inflight = new AbortController();
    document.body.classList.add("loading");
    let data;
    try {
      const options = { signal: inflight.signal, headers: { accept: "application/json" } };
      const answers = [fetch(apiPath(state), options)];
      if (state.related) {
        answers.push(fetch("/api/documents?" + new URLSearchParams({ url: state.related }), options));
      }
      const [response, about] = await Promise.all(answers);
      data = await response.json();
      if (!response.ok) throw new Error((data && data.error && data.error.message) || "the search failed");
      if (about && about.ok) data.about = await about.json();
    } catch (error) {
      if (error.name === "AbortError" || mine !== sequence) return;
      clear();
      statusBox.append(el("p", "error", "Error: " + error.message));
      return;
    } finally {
      if (mine === sequence) document.body.classList.remove("loading");
    }
    if (mine !== sequence) return;
    render(state, data);
  }

  // -- rendering -----------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function internalLink(state, text, className) {
    const link = el("a", className, text);
    link.href = stateQuery(state);
    link.addEventListener("click", function (event) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      go(state, "push");
      window.scrollTo(0, 0);
    });
    return link;
  }

  function safeHref(value) {
    try {
      const url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  function clear() {
    statusBox.replaceChildren();
    hitsList.replaceChildren();
    facetsBox.replaceChildren();
    pagesNav.replaceChildren();
  }

  function render(state, data) {
    clear();
    document.title = (state.related ? "Related articles" : state.q) + " – News search";
    renderStatus(state, data);
    for (const hit of data.hits) hitsList.append(renderHit(hit));
    renderFacets(state, data.facets || {});
    renderPages(state, data.total);
  }

  function renderStatus(state, data) {
    if (data.suggestion) {
      const line = el("p", "suggestion", "Did you mean ");
      line.append(internalLink(withChanges({ q: data.suggestion, related: "" }), data.suggestion, "did-you-mean"));
      line.append("?");
      statusBox.append(line);
    }
    const count = data.total.toLocaleString("en") + (data.total === 1 ? " result" : " results");
    let text;
    if (state.related) {
      text = count + " related to ";
      text += data.about && data.about.title ? "“" + data.about.title + "”" : "the article";
    }
    else text = count + " for “" + data.query + "”";
    if (data.matched_fewer_words && data.matched_every_word) {
      text += " (" + data.matched_every_word.toLocaleString("en") + " with every word)";
    }
    if (data.hits.length && data.total > data.hits.length) {
      const first = data.offset + 1;
      text += " · " + first + "–" + (first + data.hits.length - 1);
    }
    statusBox.append(el("p", "count", text));
    if (data.matched === "any") {
      statusBox.append(el("p", "note", "No article matched every word; these match some of them."));
    }
    const active = activeFilters(state);
    if (active.length) {
      const chips = el("p", "chips");
      for (const [label, without] of active) {
        const chip = internalLink(without, label + " ×", "chip");
        chip.setAttribute("aria-label", "Remove filter " + label);
        chips.append(chip);
      }
      statusBox.append(chips);
    }
  }

  function activeFilters(state) {
    const active = [];
    for (const topic of state.topic) {
      active.push([topic, withChanges({ topic: state.topic.filter((t) => t !== topic) })]);
    }
    if (state.provider) active.push([state.provider, withChanges({ provider: "" })]);
    if (state.since || state.until) {
      const label = state.since === state.until ? state.since : (state.since || "…") + " to " + (state.until || "…");
      active.push([label, withChanges({ since: "", until: "" })]);
    }
    if (state.related) active.push(["related articles", withChanges({ related: "" })]);
    return active;
  }

  function snippetNodes(snippet) {
    // The API's snippet is HTML made of escaped text and <mark> elements only. Rebuild it from
    // its pieces as text nodes, so nothing in it can ever become markup.
    const nodes = [];
    let marked = false;
    for (const piece of snippet.split(/(<mark>|<\/mark>)/)) {
      if (piece === "<mark>") marked = true;
      else if (piece === "</mark>") marked = false;
      else if (piece) {
        const text = unescapeHtml(piece);
        nodes.push(marked ? el("mark", null, text) : document.createTextNode(text));
      }
    }
    return nodes;
  }

  function unescapeHtml(text) {
    return text.replace(/&(lt|gt|quot|#x27|amp);/g, function (_, name) {
      return { lt: "<", gt: ">", quot: '"', "#x27": "'", amp: "&" }[name];
    });
  }

  function shorten(text, limit) {
    if (text.length <= limit) return text;
    return text.slice(0, limit).replace(/\s+\S*$/, "") + " …";
  }

  function formatDate(iso) {
    if (!iso) return null;
    const moment = new Date(iso);
    if (isNaN(moment)) return null;
    return moment.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  }

  function renderHit(hit) {
    const item = el("li", "hit");
    // A snippet taken from the title marks the title itself; the excerpt is shown below it.
    const nodes = snippetNodes(hit.snippet || "");
    const fromTitle = nodes.map((node) => node.textContent).join("") === hit.title;
    const heading = el("h2", "title");
    const href = safeHref(hit.web_url);
    const label = href ? el("a") : el("span");
    if (fromTitle) label.append(...nodes);
    else label.textContent = hit.title;
    if (href) {
      label.href = href;
      label.rel = "noopener noreferrer";
    }
    heading.append(label);
    item.append(heading);

    const meta = el("p", "meta");
    const parts = [hit.provider, formatDate(hit.published_at)];
    for (const part of parts) if (part) meta.append(el("span", null, part));
    if (hit.quality !== null && hit.quality !== undefined) {
      const quality = el("span", "quality", "quality " + hit.quality);
      quality.title = "Quality score (0–100)";
      meta.append(quality);
    }
    if (href) meta.append(el("span", "host", new URL(href).hostname));
    item.append(meta);

    const snippet = el("p", "snippet");
    if (nodes.length && !fromTitle) snippet.append(...nodes);
    else snippet.textContent = shorten(hit.excerpt || "", 240);
    if (snippet.textContent) item.append(snippet);

    const actions = el("p", "actions");
    for (const topic of hit.topics.slice(0, 4)) {
      const state = readState();
      if (state.topic.includes(topic)) continue;
      actions.append(internalLink(Object.assign(state, { page: 1, topic: state.topic.concat([topic]) }), topic, "tag"));
    }
    actions.append(internalLink(withChanges({ related: hit.url, q: "", topic: [], provider: "", since: "", until: "" }), "Related articles →", "related"));
    item.append(actions);
    return item;
  }

  function renderFacets(state, facets) {
    const groups = [
      ["topics", "Topics"],
      ["provider", "Provider"],
      ["year", "Year"],
    ];
    for (const [name, label] of groups) {
      const counts = facets[name];
      if (!counts || !Object.keys(counts).length) continue;
      const group = el("section", "facet");
      group.append(el("h3", null, label));
      const list = el("ul");
      const entries = Object.entries(counts);
      if (name === "year") entries.sort((a, b) => b[0].localeCompare(a[0]));
      entries.slice(0, FACET_VALUES_SHOWN).forEach(function ([value, count]) {
        const item = el("li");
        const chosen = isChosen(state, name, value);
        const target = chosen ? unchoose(state, name, value) : choose(state, name, value);
        const link = internalLink(target, null, chosen ? "facet-value chosen" : "facet-value");
        link.append(el("span", "facet-name", value), el("span", "facet-count", count.toLocaleString("en")));
        link.setAttribute("aria-pressed", chosen ? "true" : "false");
        item.append(link);
        list.append(item);
      });
      group.append(list);
      facetsBox.append(group);
    }
  }

  function isChosen(state, name, value) {
    if (name === "topics") return state.topic.includes(value);
    if (name === "provider") return state.provider === value;
    return state.since === value && state.until === value;
  }

  function choose(state, name, value) {
    if (name === "topics") return withChanges({ topic: state.topic.concat([value]) });
    if (name === "provider") return withChanges({ provider: value });
    return withChanges({ since: value, until: value });
  }

  function unchoose(state, name, value) {
    if (name === "topics") return withChanges({ topic: state.topic.filter((t) => t !== value) });
    if (name === "provider") return withChanges({ provider: "" });
    return withChanges({ since: "", until: "" });
  }

  function renderPages(state, total) {
    const pages = Math.ceil(total / PAGE_SIZE);
    if (pages <= 1) return;
    if (state.page > 1) {
      const previous = internalLink(Object.assign(readState(), { page: state.page - 1 }), "← Previous", "page-link previous");
      previous.rel = "prev";
      pagesNav.append(previous);
    }
    pagesNav.append(el("span", "page-number", "Page " + state.page + " of " + pages.toLocaleString("en")));
    if (state.page < pages && state.page * PAGE_SIZE < 10000) {
      const next = internalLink(Object.assign(readState(), { page: state.page + 1 }), "Next →", "page-link next");
      next.rel = "next";
      pagesNav.append(next);
    }
  }

  // -- events --------------------------------------------------------------------------------

  input.addEventListener("input", function () {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () {
      const state = withChanges({ q: input.value, related: "" });
      // The first letters of a new search make a history entry; later ones refine it in place.
      const current = readState();
      go(state, current.q && !current.related ? "replace" : "push");
    }, DEBOUNCE_MS);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(typingTimer);
    go(withChanges({ q: input.value, related: "" }), "push");
  });

  sortSelect.addEventListener("change", function () {
    go(withChanges({ sort: sortSelect.value }), "push");
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && document.activeElement !== input) {
      event.preventDefault();
      input.focus();
      input.select();
    } else if (event.key === "Escape" && document.activeElement === input && input.value) {
      input.value = "";
      go(withChanges({ q: "", related: "" }), "push");
    }
  });

  window.addEventListener("popstate", function () {
    show(readState());
  });

  fetch("/healthz", { headers: { accept: "application/json" } })
    .then((response) => response.json())
    .then(function (health) {
      foot.textContent = health.documents !== undefined
        ? health.documents.toLocaleString("en") + " articles indexed"
        : "No index yet: build one with `search index`.";
    })
    .catch(function () {});

  show(readState());
})();
