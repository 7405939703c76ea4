// What Slack shows for a text the bot sends: mrkdwn (a message's text, a "mrkdwn" text object) or
// plain_text. Everything is built with DOM nodes and text nodes, never HTML from a string, so no text
// the bot or a person sends can become markup on this page.
//
// mrkdwn, in Slack's order:
//   1. ```code blocks``` are cut out first; inside them control sequences (links, mentions) are still
//      parsed and &lt; &gt; &amp; decoded, but *formatting* and :emoji: are not.
//   2. Lines starting with > (or &gt;, as Slack stores a typed >) are quotes.
//   3. On each line: `inline code` (same rule as code blocks), control sequences <...>, then *bold*,
//      _italic_, ~strike~ (opening after a space, punctuation or the start, before a non-space; closing
//      after a non-space, before a non-word character or the end), :emoji:, bare URLs made links.
//   4. &lt; &gt; &amp; are decoded last, in text only: an escaped "&lt;b&gt;" is shown as "<b>",
//      never parsed as a control sequence.
// Control sequences: <https://x|label> and <https://x> (links), <@U123> and <@U123|name> (users),
// <#C123> and <#C123|name> (channels), <!subteam^S123> and <!subteam^S123|@team> (user groups),
// <!here> <!channel> <!everyone>, <!date^1392734382^{date_short}|fallback> (shown as its fallback).
// Anything else in angle brackets is what Slack takes it for, a link: <service> shows "service" as a
// link (to nowhere), <foo|bar> shows "bar"; an unknown <!command> is shown as its label, or literally.
"use strict";
(function (global) {
  const EMOJI = {
    x: "❌", white_check_mark: "✅", warning: "⚠️", lock: "🔒", unlock: "🔓", rotating_light: "🚨",
    red_circle: "🔴", large_yellow_circle: "🟡", large_green_circle: "🟢", hourglass_flowing_sand: "⏳",
    grey_question: "❔", rocket: "🚀", bell: "🔔", moneybag: "💰", chart_with_upwards_trend: "📈",
    chart_with_downwards_trend: "📉", information_source: "ℹ️", mag: "🔍", arrow_right: "➡️",
    heavy_check_mark: "✔️", no_entry: "⛔", leftwards_arrow_with_hook: "↩️", mute: "🔇", eyes: "👀",
    package: "📦", fire: "🔥", bar_chart: "📊", memo: "📝", tada: "🎉", hourglass: "⌛", stopwatch: "⏱️",
    speech_balloon: "💬", wrench: "🔧", construction: "🚧", white_circle: "⚪", black_circle: "⚫",
    arrow_up: "⬆️", arrow_down: "⬇️", small_red_triangle: "🔺", small_red_triangle_down: "🔻",
  };
  const MARKS = {"*": "b", "_": "i", "~": "s"};
  const SPECIAL = {here: "@here", channel: "@channel", everyone: "@everyone"};
  const SAFE_LINK = /^(https?:|mailto:)/i;

  const decode = (s) => s.replace(/&(lt|gt|amp);/g, (_, e) => ({lt: "<", gt: ">", amp: "&"})[e]);
  const isSpace = (u) => typeof u === "string" && /\s/u.test(u);
  const isWord = (u) => typeof u === "string" && /[\p{L}\p{N}]/u.test(u);

  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    node.append(...children);
    return node;
  }

  function emoji(text) {
    return text.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
  }

  // --- control sequences ---------------------------------------------------------------------------

  function mention(text, kind) {
    return el("span", `mention ${kind}`, text);
  }

  function link(target, label) {
    const text = decode(label || target);
    const url = decode(target);
    if (!SAFE_LINK.test(url)) {
      // Slack takes it for a link too; there is nowhere safe to go, so it only looks like one.
      const fake = el("span", "link unresolved", text);
      fake.title = url;
      return fake;
    }
    const a = el("a", "link", text);
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  function controlSequence(inner, ctx) {
    const bar = inner.indexOf("|");
    const target = bar < 0 ? inner : inner.slice(0, bar);
    const label = bar < 0 ? "" : inner.slice(bar + 1);
    if (target.startsWith("@")) {
      const id = target.slice(1);
      return mention(`@${ctx.userName(id) || decode(label).replace(/^@/, "") || id}`, "user");
    }
    if (target.startsWith("#")) {
      const id = target.slice(1);
      return mention(`#${ctx.channelName(id) || decode(label).replace(/^#/, "") || id}`, "channel");
    }
    if (target.startsWith("!")) {
      const [command, ...args] = target.slice(1).split("^");
      if (command in SPECIAL) return mention(SPECIAL[command], "special");
      if (command === "subteam" && args.length) {
        return mention(`@${decode(label).replace(/^@/, "") || ctx.groupName(args[0]) || args[0]}`, "group");
      }
      if (command === "date") {
        const fallback = decode(label) || new Date(Number(args[0]) * 1000).toISOString();
        return el("span", "date", fallback);
      }
      return document.createTextNode(label ? decode(label) : `<${decode(inner)}>`);
    }
    return link(target, label);
  }

  // --- inline: units are one character (a string) or an atom (a DOM node: code, link, mention) ------

  function units(line, ctx, withCode) {
    const chars = Array.from(line);
    const out = [];
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i];
      if (c === "<") {
        const end = chars.indexOf(">", i + 1);
        const next = chars.indexOf("<", i + 1);
        if (end > i && (next < 0 || next > end)) {
          out.push(controlSequence(chars.slice(i + 1, end).join(""), ctx));
          i = end;
          continue;
        }
      }
      if (c === "`" && withCode) {
        const end = chars.indexOf("`", i + 1);
        if (end > i + 1) {
          out.push(el("code", "", ...verbatim(chars.slice(i + 1, end).join(""), ctx)));
          i = end;
          continue;
        }
      }
      out.push(c);
    }
    return out;
  }

  // Control sequences and entities only: inside code, where Slack applies no formatting.
  function verbatim(text, ctx) {
    return textRuns(units(text, ctx, false), (s) => [document.createTextNode(decode(s))]);
  }

  function textRuns(list, renderText) {
    const nodes = [];
    let run = "";
    const flush = () => {
      if (run) nodes.push(...renderText(run));
      run = "";
    };
    for (const u of list) {
      if (typeof u === "string") run += u;
      else {
        flush();
        nodes.push(u);
      }
    }
    flush();
    return nodes;
  }

  function canOpen(list, i) {
    const before = list[i - 1];
    const after = list[i + 1];
    return after !== undefined && !isSpace(after) && after !== list[i] && (before === undefined || !isWord(before));
  }

  function closing(list, i) {
    const mark = list[i];
    for (let k = i + 2; k < list.length; k++) {
      if (list[k] === mark && !isSpace(list[k - 1]) && !isWord(list[k + 1])) return k;
    }
    return -1;
  }

  function formatted(list, options) {
    const out = [];
    let plain = [];
    const flush = () => {
      out.push(...textRuns(plain, (s) => text(s, options)));
      plain = [];
    };
    for (let i = 0; i < list.length; i++) {
      const u = list[i];
      if (typeof u === "string" && MARKS[u] && canOpen(list, i)) {
        const end = closing(list, i);
        if (end > 0) {
          flush();
          out.push(el(MARKS[u], "", ...formatted(list.slice(i + 1, end), options)));
          i = end;
          continue;
        }
      }
      plain.push(u);
    }
    flush();
    return out;
  }

  // A run of plain text: entities decoded, :emoji:, and bare URLs as links (unless verbatim).
  function text(raw, options) {
    const shown = emoji(decode(raw));
    if (options.verbatim) return [document.createTextNode(shown)];
    const nodes = [];
    let last = 0;
    for (const match of shown.matchAll(/\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]'"]/g)) {
      if (match.index > last) nodes.push(document.createTextNode(shown.slice(last, match.index)));
      const a = el("a", "link", match[0]);
      a.href = match[0];
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      nodes.push(a);
      last = match.index + match[0].length;
    }
    if (last < shown.length) nodes.push(document.createTextNode(shown.slice(last)));
    return nodes;
  }

  function inline(line, ctx, options) {
    return formatted(units(line, ctx, true), options);
  }

  // --- lines, quotes, code blocks -----------------------------------------------------------------

  const QUOTE = /^(?:&gt;|>) ?/;

  function lines(part, ctx, options) {
    const out = [];
    const rows = part.split("\n");
    for (let i = 0; i < rows.length; i++) {
      if (QUOTE.test(rows[i])) {
        const quote = el("blockquote", "quote");
        let first = true;
        for (; i < rows.length && QUOTE.test(rows[i]); i++) {
          if (!first) quote.append("\n");
          quote.append(...inline(rows[i].replace(QUOTE, ""), ctx, options));
          first = false;
        }
        i--;
        out.push(quote);
        continue;
      }
      if (i > 0 && !QUOTE.test(rows[i - 1])) out.push(document.createTextNode("\n"));
      out.push(...inline(rows[i], ctx, options));
    }
    return out;
  }

  function mrkdwn(source, ctx, options = {}) {
    const fragment = document.createDocumentFragment();
    const parts = String(source ?? "").split("```");
    if (parts.length % 2 === 0) {
      // An unclosed fence is text.
      const last = parts.pop();
      parts[parts.length - 1] += "```" + last;
    }
    parts.forEach((part, i) => {
      if (i % 2) {
        fragment.append(el("pre", "code-block", ...verbatim(part.replace(/^\n/, "").replace(/\n$/, ""), ctx)));
      } else if (part) {
        fragment.append(...lines(part, ctx, options));
      }
    });
    return fragment;
  }

  // plain_text: exactly the characters sent (Slack escapes & < > in it for you), :emoji: when emoji isn't false.
  function plain(source, options = {}) {
    const shown = String(source ?? "");
    return document.createTextNode(options.emoji === false ? shown : emoji(shown));
  }

  // A text object ({type, text, emoji, verbatim}) as Slack shows it.
  function textObject(object, ctx) {
    const span = el("span", object && object.type === "mrkdwn" ? "mrkdwn" : "plain");
    if (!object) return span;
    if (object.type === "mrkdwn") span.append(mrkdwn(object.text, ctx, {verbatim: object.verbatim === true}));
    else span.append(plain(object.text, {emoji: object.emoji}));
    return span;
  }

  const noNames = {userName: () => null, channelName: () => null, groupName: () => null};
  global.SlackText = {mrkdwn, plain, textObject, decode, context: (names) => ({...noNames, ...names})};
})(window);
