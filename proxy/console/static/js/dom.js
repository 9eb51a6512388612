// Building the page from data without ever parsing data as HTML: text goes through
// textContent, attributes through setAttribute (never innerHTML).

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

export function show(id, visible) {
  $(id).hidden = !visible;
}

// A <dl> of [term, value, explanation?] rows.
export function facts(id, rows) {
  const list = $(id);
  list.replaceChildren();
  for (const [term, value, explanation] of rows) {
    const dd = h('dd', {}, value);
    if (explanation) dd.append(h('span', { class: 'explain' }, explanation));
    list.append(h('dt', {}, term), dd);
  }
}

export function status(message) {
  $('status').textContent = message;
}
