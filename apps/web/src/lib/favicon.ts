/**
 * The favicon with an unread badge, drawn on a canvas over the app's icon (a data: URL, which
 * the Content-Security-Policy allows for images). Zero puts the plain icon back.
 */
const SIZE = 64;
let baseHref: string | undefined;
let baseImage: Promise<HTMLImageElement | undefined> | undefined;
let shown = 0;

function iconLink(): HTMLLinkElement | undefined {
  return document.querySelector<HTMLLinkElement>('link[rel="icon"]') ?? undefined;
}

function loadBase(href: string): Promise<HTMLImageElement | undefined> {
  baseImage ??= new Promise((resolve) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => resolve(undefined);
    image.src = href;
  });
  return baseImage;
}

/** The badge's text: the count, "9+" past nine (it must stay legible at 16 px). */
export function faviconBadgeText(count: number): string {
  return count > 9 ? '9+' : String(count);
}

export async function setFaviconBadge(count: number): Promise<void> {
  const link = iconLink();
  if (!link) return;
  baseHref ??= link.getAttribute('href') ?? '/favicon.svg';
  shown = count;
  if (count <= 0) {
    link.type = 'image/svg+xml';
    link.href = baseHref;
    return;
  }
  const image = await loadBase(baseHref);
  if (shown !== count) return; // a newer count is being drawn
  const canvas = document.createElement('canvas');
  canvas.width = SIZE;
  canvas.height = SIZE;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  if (image) ctx.drawImage(image, 0, 0, SIZE, SIZE);
  const radius = 19;
  const cx = SIZE - radius;
  const cy = radius;
  ctx.beginPath();
  ctx.arc(cx, cy, radius, 0, Math.PI * 2);
  ctx.fillStyle = '#dc2626';
  ctx.fill();
  ctx.lineWidth = 4;
  ctx.strokeStyle = '#ffffff';
  ctx.stroke();
  ctx.fillStyle = '#ffffff';
  ctx.font = 'bold 26px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(faviconBadgeText(count), cx, cy + 1);
  link.type = 'image/png';
  link.href = canvas.toDataURL('image/png');
  link.dataset.badge = String(count);
}
