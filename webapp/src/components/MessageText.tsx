import { linkify } from "./linkify";

/** Message text as text nodes and safe links: never HTML (no innerHTML anywhere in this app). */
export function MessageText({ text }: { text: string }) {
  return (
    <>
      {linkify(text).map((seg, i) =>
        seg.kind === "link" ? (
          <a key={i} href={seg.href} target="_blank" rel="noopener noreferrer">
            {seg.text}
          </a>
        ) : (
          seg.text
        ),
      )}
    </>
  );
}
