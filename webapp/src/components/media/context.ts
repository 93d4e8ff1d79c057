import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { ChatStore } from "../../state/chats";
import type { MediaModel } from "../../state/media";

/** What the media views need: the media model (URLs, progress) and the chats (contact cards open chats). The
 * conversation view provides it to the bubbles and tools below it. */
export interface MediaEnv {
  media: MediaModel;
  chats: ChatStore;
}
export const MediaContext = createContext<MediaEnv | null>(null);
export const useMediaEnv = () => useContext(MediaContext);
