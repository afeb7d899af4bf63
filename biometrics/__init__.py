"""Face enrolment and verification on face_recognition, with a liveness challenge."""
