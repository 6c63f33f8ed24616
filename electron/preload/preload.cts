// The only bridge between the sandboxed page and Mnemo: call(method, params), event delivery, and
// the disk path of a file the user dropped or picked.
// CommonJS, as sandboxed preloads must be; it exposes nothing else of Electron or Node.
import electron = require("electron");

const { contextBridge, ipcRenderer, webUtils } = electron;

contextBridge.exposeInMainWorld("mnemo", {
  call: (method: string, params: unknown) => ipcRenderer.invoke("mnemo:call", method, params),
  onEvent: (listener: (event: unknown) => void) => {
    ipcRenderer.on("mnemo:event", (_e, event: unknown) => listener(event));
  },
  /** Where a dropped or picked file (or folder) is on disk, "" if nowhere: the desktop app adds by path,
   * so a dropped folder is read whole and each document remembers its source. */
  pathForFile: (file: File) => webUtils.getPathForFile(file),
});
