"""Orders: placing, paying, cancelling and shipping."""
