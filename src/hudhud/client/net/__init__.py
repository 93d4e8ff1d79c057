"""The protocol client: REST calls, the realtime session, the outbox. No UI and no command-line code here
(the counterpart of the browser's `webapp/src/net/`)."""
