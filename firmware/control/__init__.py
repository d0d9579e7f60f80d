"""Local control interface: a unix socket speaking one JSON request and one JSON reply per connection."""
