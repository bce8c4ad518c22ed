() => {
  // Hear the weak part: a click on a timeline point, or on a "[data-apex-seek]" link (the weakest
  // part), moves the Analyze player to that part's start and plays it; a playhead line follows
  // playback on the timeline. Gradio's player keeps its media element in a shadow root.
  const PLAYER = "#analyze-audio";
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

  // Waiting in the queue, in words: Gradio's tracker on the progress line says "queue: 2/3 | 4.1/55.0s";
  // a sibling line (never Gradio's own nodes, which it keeps updating) says it plainly.
  const PROGRESS = ["#analyze-progress", "#compare-progress"];
  const QUEUE = /queue:\s*(\d+)\s*\/\s*(\d+)(?:\s*\|\s*([\d.]+)(?:\s*\/\s*([\d.]+))?s)?/;

  function waitWords(elapsed, eta) {
    if (!isFinite(eta)) return "Your turn comes as soon as the song ahead of you is done.";
    const left = Math.max(eta - elapsed, 0);
    if (left < 5) return "Your turn comes any moment now.";
    return left < 90 ? `Your turn in about ${Math.round(left / 5) * 5} s.` : `Your turn in about ${Math.round(left / 60)} min.`;
  }

  function explainQueue() {
    for (const selector of PROGRESS) {
      const box = document.querySelector(selector);
      if (!box) continue;
      const tracker = box.querySelector(".progress-text");
      const match = tracker && QUEUE.exec(tracker.textContent || "");
      let words = box.querySelector(".apex-queue-words");
      if (!match) {
        if (words) words.remove();
        continue;
      }
      if (!words) {
        words = document.createElement("div");
        words.className = "apex-progress apex-queue-words";
        words.setAttribute("role", "status");
        box.prepend(words);
      }
      const position = Number(match[1]);
      const ahead = position <= 1 ? "one song is being scored before yours" : `${position} requests are ahead of yours`;
      const text = `Waiting in line: you are number ${position} in the queue (${ahead}). ` +
        waitWords(Number(match[3]), match[4] === undefined ? NaN : Number(match[4]));
      if (words.textContent !== text) words.textContent = text;
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

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("[data-apex-seek]");
    if (!link) return;
    event.preventDefault();
    seek(Number(link.dataset.apexSeek));
  });
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

  new MutationObserver(() => { attach(); explainQueue(); oneStopPerControl(); })
    .observe(document.body, {childList: true, subtree: true, characterData: true});
}
