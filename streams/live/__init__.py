"""The simplest live state: each vehicle's latest position and events per minute, for the wall."""
