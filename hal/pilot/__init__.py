"""Control pilot and proximity pilot drivers: signal maths, PWM generators, measurement and the pilot part."""
