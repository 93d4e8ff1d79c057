// The unread count on the tab's icon: icon.svg drawn on a canvas with a badge, set as the page's icon as a
// data: URL. The CSP allows it as it is (img-src 'self' data:); the icon itself is loaded from 'self'.

let base: Promise<HTMLImageElement> | null = null;

function icon(): Promise<HTMLImageElement> {
  base ??= new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = reject;
    img.src = "/icon.svg";
  });
  return base;
}

/** The badge text: the count, or "99+" past 99. Exported for tests. */
export function badgeText(n: number): string {
  return n > 99 ? "99+" : String(n);
}

const drawn = new WeakMap<Document, number>();

export async function setIconBadge(doc: Document, n: number): Promise<void> {
  if (drawn.get(doc) === n) return; // the same count as on the icon now: nothing to draw
  drawn.set(doc, n);
  let link = doc.querySelector<HTMLLinkElement>("link[rel=icon]");
  if (!link) {
    link = doc.createElement("link");
    link.rel = "icon";
    doc.head.appendChild(link);
  }
  if (n <= 0) {
    link.type = "image/svg+xml";
    link.href = "/icon.svg";
    return;
  }
  const canvas = doc.createElement("canvas");
  canvas.width = canvas.height = 64;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  try {
    ctx.drawImage(await icon(), 0, 0, 64, 64);
  } catch {
    // no icon: the badge alone
  }
  ctx.fillStyle = "#d93025";
  ctx.beginPath();
  ctx.arc(44, 20, 20, 0, 2 * Math.PI);
  ctx.fill();
  ctx.fillStyle = "#fff";
  const text = badgeText(n);
  ctx.font = `bold ${text.length > 2 ? 18 : 26}px sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(text, 44, 21);
  link.type = "image/png";
  link.href = canvas.toDataURL("image/png");
}
