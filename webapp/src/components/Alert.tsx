/** An error said at once to screen readers (role=alert); nothing when there is none. */
export function Alert({ text }: { text: string | null }) {
  return text ? (
    <p class="problem" role="alert">
      {text}
    </p>
  ) : null;
}
