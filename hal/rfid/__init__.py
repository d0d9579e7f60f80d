"""RFID readers: serial readers that send the UID as a text line, and USB HID "keyboard" readers."""
