"""The OpenID Provider and the composition root of OneTrip."""
