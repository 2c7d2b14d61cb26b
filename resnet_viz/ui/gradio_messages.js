() => {
  // Gradio's own messages (upload limit, full queue, toast titles) are English whatever the page's
  // language; for a Korean browser they are rewritten here, as they appear. Our own messages are
  // translated on the server (resnet_viz/i18n.py).
  const language = (navigator.languages && navigator.languages[0]) || navigator.language || "";
  if (!language.toLowerCase().startsWith("ko")) return;
  const rules = [
    [/^File\(s\) exceed the maximum allowed size of (.+?): (.*)$/s, (m, size, names) => `파일이 허용된 최대 크기(${size})를 넘습니다: ${names}`],
    [/^File size exceeded maximum allowed size of (\d+) bytes\.?$/, (m, bytes) => `파일이 허용된 최대 크기(${bytes}바이트)를 넘습니다.`],
    [/^Queue is full! Please try again\.?$/, () => "대기열이 가득 찼습니다. 잠시 후 다시 시도하세요."],
    [/^Connection errored out\.?$/, () => "연결이 끊어졌습니다."],
    [/^Error$/, () => "오류"],
    [/^Warning$/, () => "경고"],
  ];
  const translate = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.nodeValue.trim();
      for (const [pattern, replace] of rules) {
        const match = text.match(pattern);
        if (match) { node.nodeValue = replace(...match); return; }
      }
      return;
    }
    if (node.nodeType === Node.ELEMENT_NODE) node.childNodes.forEach(translate);
  };
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      if (mutation.type === "characterData") translate(mutation.target);
      mutation.addedNodes.forEach(translate);
    }
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
}
