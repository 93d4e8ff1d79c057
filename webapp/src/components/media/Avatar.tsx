import { useEffect, useState } from "preact/hooks";
import type { MediaModel } from "../../state/media";
import "./media.css";

/** A profile picture (its thumbnail, by a signed URL; protocol 3.5), or the initial when there is none. */
export function Avatar({ media, picture, fallback, label }: { media: MediaModel | null; picture: string | null | undefined; fallback: string; label?: string }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    setUrl(null);
    if (!picture || !media) return;
    let live = true;
    media.url(picture, true).then((u) => live && setUrl(u), () => undefined);
    return () => {
      live = false;
    };
  }, [picture, media]);
  return (
    <span class="avatar" aria-hidden={label ? undefined : "true"} data-picture={picture ?? undefined}>
      {url ? <img src={url} alt={label ?? ""} class="avatar-img" data-testid="avatar-img" /> : fallback}
    </span>
  );
}
