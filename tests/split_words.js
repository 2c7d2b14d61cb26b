(root) => {
  // Every visible word under `root` that the browser laid out over more than one line.
  const split = [];
  const scope = document.querySelector(root) || document.body;
  const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const re = /[^\s\u200b\-\/]+/g; let m;
    while ((m = re.exec(node.textContent))) {
      const r = document.createRange(); r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
      const rects = Array.from(r.getClientRects()).filter(x => x.width > 0 && x.height > 0);
      const tops = new Set(rects.map(x => Math.round(x.top / 4)));
      if (tops.size > 1) split.push(m[0]);
    }
  }
  return split;
}
