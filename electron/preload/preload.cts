// The only bridge between the sandboxed page and Mnemo: call(method, params) and event delivery.
// CommonJS, as sandboxed preloads must be; it exposes nothing else of Electron or Node.
import electron = require("electron");

const { contextBridge, ipcRenderer } = electron;

contextBridge.exposeInMainWorld("mnemo", {
  call: (method: string, params: unknown) => ipcRenderer.invoke("mnemo:call", method, params),
  onEvent: (listener: (event: unknown) => void) => { ipcRenderer.on("mnemo:event", (_e, event: unknown) => listener(event)); },
});
