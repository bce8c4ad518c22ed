() => {
  // Hear the weak part: a click on a timeline point, or a click or Enter on a weakest-part link
  // ("#apex-play-<seconds>": Gradio's Markdown keeps a link's href but drops data- attributes), moves
  // the Analyze player to that part's start, brings the player into view and plays it; a playhead line
  // follows playback on the timeline. Gradio's player keeps its media element in a shadow root.
  const PLAYER = "#analyze-audio";
  const PLAY_LINK = 'a[href^="#apex-play-"]';
  const TIMELINE = "#analyze-timeline .js-plotly-plot";
  const PLAYHEAD = "apex-playhead";

  function media(rootSelector) {
    const root = document.querySelector(rootSelector);
    if (!root) return null;
    for (const el of root.querySelectorAll("*")) {
      const inner = el.shadowRoot && el.shadowRoot.querySelector("audio");
      if (inner) return inner;
    }
    return root.querySelector("audio");
  }

  function seek(seconds) {
    document.body.dataset.apexLastSeek = String(seconds);  // for tests and debugging
    const audio = media(PLAYER);
    if (!audio || !isFinite(seconds)) return;
    document.querySelector(PLAYER).scrollIntoView({block: "nearest"});  // never play a player out of sight
    audio.currentTime = seconds;
    const playing = audio.play();
    if (playing && playing.catch) playing.catch(() => {});
    followPlayhead(audio);
  }

  function drawPlayhead(seconds) {
    const plot = document.querySelector(TIMELINE);
    if (!plot || !window.Plotly || !plot.layout) return;
    const shapes = (plot.layout.shapes || []).filter((s) => s.name !== PLAYHEAD);
    shapes.push({name: PLAYHEAD, type: "line", xref: "x", yref: "paper", x0: seconds, x1: seconds, y0: 0, y1: 1,
                 line: {color: "#111827", width: 2}});
    window.Plotly.relayout(plot, {shapes: shapes});
  }

  function followPlayhead(audio) {
    if (audio.dataset.apexFollow) return;
    audio.dataset.apexFollow = "1";
    let last = -1;
    audio.addEventListener("timeupdate", () => {
      if (Math.abs(audio.currentTime - last) < 0.5) return;
      last = audio.currentTime;
      drawPlayhead(audio.currentTime);
    });
  }

  function attach() {
    const plot = document.querySelector(TIMELINE);
    if (!plot || plot.dataset.apexClickAttached || !plot.on) return;
    plot.dataset.apexClickAttached = "1";
    plot.on("plotly_click", (event) => {
      const point = event && event.points && event.points[0];
      if (point && point.customdata !== undefined) seek(Number(point.customdata));
    });
  }

  // "Done" only once the tab's charts have drawn: the progress line says done in the same update that hands
  // Plotly the final figures, which it draws a moment later. Until then the line stays hidden (CSS).
  const DONE = ".apex-progress-done";

  function chartsDrawn(panel) {
    const charts = [...panel.querySelectorAll(".js-plotly-plot")].filter((c) => c.offsetParent !== null);
    return charts.every((c) => c.querySelector("svg.main-svg"));
  }

  function revealDone() {
    for (const line of document.querySelectorAll(DONE + ":not(.apex-drawn)")) {
      const panel = line.closest("[role=tabpanel]") || document.body;
      if (chartsDrawn(panel)) line.classList.add("apex-drawn");
    }
  }

  // An upload over the size limit Gradio was launched with: stopped here, before Gradio sends it (it
  // would only show a toast that vanishes), and refused in the visitor's words beside the upload. The
  // words come from the limits line under the upload (data-apex-too-big, ui/messages.py).
  const LIMITS = "[data-apex-too-big]";
  const REFUSAL = "apex-upload-refusal";
  const MIB = 1024 * 1024;
  const FILE_INPUT = "input[type=file]";

  // The first element matching `selector` at `element` or inside its nearest ancestor that has one:
  // the limits line, or the file input, of the upload an event happened in.
  function nearest(element, selector) {
    if (element.matches && element.matches(selector)) return element;
    for (let node = element; node && node !== document.body; node = node.parentElement) {
      const found = node.querySelector && node.querySelector(selector);
      if (found) return found;
    }
    return null;
  }

  function showRefusal(limits, text) {
    let box = limits.parentElement.querySelector("." + REFUSAL);
    if (!text) {
      if (box) box.remove();
      return;
    }
    if (!box) {
      box = document.createElement("div");
      box.className = "apex-panel apex-panel-error " + REFUSAL;
      box.setAttribute("role", "alert");
      limits.after(box);
    }
    box.textContent = "⚠ " + text;
  }

  // Several files chosen at once (Compare) with some too big: the others go on to Gradio, as if the
  // visitor had chosen only them, through the upload's own file input and "change" event.
  let passingOn = false;

  function passOn(input, files) {
    if (!input || !input.multiple || !files.length) return false;
    const kept = new DataTransfer();
    for (const file of files) kept.items.add(file);
    input.files = kept.files;
    passingOn = true;  // this change carries only files already checked: the refusal above them stays
    try {
      input.dispatchEvent(new Event("change", {bubbles: true}));
    } finally {
      passingOn = false;
    }
    return true;
  }

  function guardSize(event) {
    if (passingOn) return;
    const files = event.type === "drop" ? event.dataTransfer && event.dataTransfer.files : event.target.files;
    const limit = Number((window.gradio_config || {}).max_file_size) || Infinity;
    const limits = files && files.length ? nearest(event.target, LIMITS) : null;
    if (!limits) return;
    const big = [...files].filter((file) => file.size > limit);
    showRefusal(limits, big.map((file) => limits.dataset.apexTooBig.replace("{name}", file.name)
      .replace("{size}", (file.size / MIB).toFixed(1))).join(" "));
    if (!big.length) return;
    event.stopPropagation();  // Gradio never sees the too-big files
    event.preventDefault();
    const fine = [...files].filter((file) => file.size <= limit);
    if (event.type === "change") event.target.value = "";
    passOn(nearest(event.target, FILE_INPUT), fine);
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches && event.target.matches(FILE_INPUT)) guardSize(event);
  }, true);
  document.addEventListener("drop", guardSize, true);

  // Capture phase: before Gradio's own handlers; a link's Enter key arrives as a click too.
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest(PLAY_LINK);
    if (!link) return;
    event.preventDefault();
    seek(Number(link.getAttribute("href").slice("#apex-play-".length)));
  }, true);
  // Gradio's player wraps its Download button in a link: two keyboard stops, both "Download". The link
  // stays the one stop (it does the download); the button inside it leaves the tab order.
  // A long song's waveform scrolls sideways, so Chromium makes its scroller (inside the player's shadow
  // root) a keyboard stop; it gets a name instead of being read as an unnamed group.
  const WAVEFORM_NAME = "Waveform (scrolls sideways)";

  function oneStopPerControl() {
    for (const button of document.querySelectorAll("a.download-link button:not([tabindex])")) button.tabIndex = -1;
    for (const host of document.querySelectorAll(".waveform-container *")) {
      const scroller = host.shadowRoot && host.shadowRoot.querySelector("[part~=scroll]:not([aria-label])");
      if (!scroller) continue;
      scroller.setAttribute("role", "group");
      scroller.setAttribute("aria-label", WAVEFORM_NAME);
    }
  }

  // Names Gradio leaves unclear, fixed where the page shows them:
  // - the arena's two players both say "Play", "Pause"...: each control names its clip ("Play clip A");
  // - the skip buttons say "Skip backwards by 0.45489114999999997 seconds" (or "1 seconds"): a tenth, in words;
  // - the status announcer reads untranslated keys such as "common.complete": read as words.
  const CLIPS = {"arena-player-a": "clip A", "arena-player-b": "clip B"};
  const SKIP = /^(Skip (?:backwards|forward) by )([\d.]+) seconds(.*)$/;
  const RAW_KEY = /^(?:common|status|audio)\.([a-z_]+)$/;
  const KEY_WORDS = {complete: "Done", error: "Error", loading: "Loading"};

  function nameControls() {
    for (const control of document.querySelectorAll('button[aria-label^="Skip "]')) {
      const label = control.getAttribute("aria-label"), match = SKIP.exec(label);
      if (!match) continue;
      const seconds = Math.round(Number(match[2]) * 10) / 10;
      const words = `${match[1]}${seconds} ${seconds === 1 ? "second" : "seconds"}${match[3]}`;
      if (words !== label) control.setAttribute("aria-label", words);
    }
    for (const [id, clip] of Object.entries(CLIPS)) {
      for (const control of document.querySelectorAll(`#${id} button[aria-label]`)) {
        const label = control.getAttribute("aria-label");
        if (label && !label.endsWith(clip)) control.setAttribute("aria-label", `${label} ${clip}`);
      }
    }
  }

  // Run at once in the observer (not after a pause), so the raw key is gone before anything announces it.
  function announceInWords() {
    for (const announcer of document.querySelectorAll(".sr-only[role=status]")) {
      const text = announcer.firstChild;  // Gradio updates this text node itself: change its value, keep the node
      const match = text && text.nodeType === Node.TEXT_NODE && RAW_KEY.exec(text.nodeValue.trim());
      if (match) text.nodeValue = KEY_WORDS[match[1]] || match[1].replace(/_/g, " ");
    }
  }

  // Once per short pause at most, however many nodes Gradio and Plotly change in one go.
  const TIDY_MS = 30;
  let scheduled = false;

  function tidy() {
    scheduled = false;
    attach(); revealDone(); oneStopPerControl(); nameControls();
  }

  new MutationObserver(() => {
    announceInWords();
    if (!scheduled) {
      scheduled = true;
      setTimeout(tidy, TIDY_MS);
    }
  }).observe(document.body, {childList: true, subtree: true, characterData: true, attributes: true,
                             attributeFilter: ["aria-label"]});
}
