"""OneTrip's certificate authority: hierarchy, profiles, key custody, CRL, OCSP, time-stamps."""
