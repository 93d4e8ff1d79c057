import { useEffect, useRef } from "preact/hooks";
import { t } from "../../i18n";

/** A picture over the whole window. Esc or the close button closes it; focus goes back where it was. */
export function Lightbox({ src, alt, onClose }: { src: string; alt: string; onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    close.current?.focus();
    const key = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.preventDefault();
        onClose();
      } else if (e.key === "Tab") {
        e.preventDefault(); // one control inside: keep focus in the dialog
        close.current?.focus();
      }
    };
    document.addEventListener("keydown", key);
    return () => {
      document.removeEventListener("keydown", key);
      before?.focus();
    };
  }, []);
  return (
    <div class="lightbox" role="dialog" aria-modal="true" aria-label={t("media.lightbox")} onClick={onClose}>
      <img src={src} alt={alt} onClick={(e) => e.stopPropagation()} />
      <button type="button" ref={close} class="lightbox-close" onClick={onClose}>
        {t("media.close")}
      </button>
    </div>
  );
}
