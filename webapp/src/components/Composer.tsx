import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "../i18n";

const REPEAT_MS = 3000; // repeat `composing` while typing; `paused` after this long without a key (protocol 8.1)

export function Composer({
  onSend,
  onTyping,
  initial = "",
  tools,
}: {
  onSend: (text: string) => void;
  onTyping: (s: "composing" | "paused") => void;
  initial?: string;
  tools?: ComponentChildren; // attach and record buttons (components/media)
}) {
  const [text, setText] = useState(initial);
  const lastSent = useRef(0);
  const idle = useRef<ReturnType<typeof setTimeout> | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);

  useEffect(() => () => {
    if (idle.current) clearTimeout(idle.current);
  }, []);
  useEffect(() => area.current?.focus(), []);

  const stopTyping = () => {
    if (idle.current) clearTimeout(idle.current);
    idle.current = null;
    if (lastSent.current) onTyping("paused");
    lastSent.current = 0;
  };
  const typed = (value: string) => {
    setText(value);
    const now = Date.now();
    if (now - lastSent.current > REPEAT_MS) {
      onTyping("composing");
      lastSent.current = now;
    }
    if (idle.current) clearTimeout(idle.current);
    idle.current = setTimeout(stopTyping, REPEAT_MS);
  };
  const submit = () => {
    if (!text.trim()) return;
    onSend(text);
    setText("");
    stopTyping();
  };

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {tools}
      <label for="compose" class="visually-hidden">
        {t("conv.compose")}
      </label>
      <textarea
        id="compose"
        ref={area}
        dir="auto"
        rows={1}
        placeholder={t("conv.compose")}
        value={text}
        onInput={(e) => typed(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            submit();
          }
        }}
      />
      <button type="submit" class="send" aria-label={t("conv.send")}>
        <svg viewBox="0 0 24 24" aria-hidden="true" class="flip-rtl">
          <path d="M3 20l18-8L3 4v6l12 2-12 2z" fill="currentColor" />
        </svg>
      </button>
    </form>
  );
}
