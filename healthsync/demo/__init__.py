"""The demo: emulators, the example app, demo users connected through the real OAuth flow, live syncing."""
