"""Face enrolment and verification on face_recognition, with a liveness challenge.

The API idp (and anything else) uses is :class:`biometrics.service.FaceService`; it takes
plain values, never Flask objects, and raises :class:`biometrics.errors.FaceError`. The
caller names the citizen (``subject``, the username its audit events carry): accounts are
idp's, and biometrics reads no table but its own::

    from biometrics.service import face_service
    from biometrics.errors import FaceError

    faces = face_service(runtime)                 # one per runtime; work in a worker process
    faces.enroll(user_id, image_bytes, subject=username,
                 provenance="counter" | "authoritative" | "self",
                 actor=username, ip=ip, **audit_details)  # -> EnrolmentResult
    faces.has_template(user_id) -> bool;  faces.has_proofed(user_id) -> bool
    faces.count(user_id) -> int;  faces.describe(user_id) -> list[dict]
    faces.delete(user_id, subject=username, template_id=None, actor=..., ip=ip) -> int
    faces.verify(user_id, image_bytes, subject=username, actor=..., ip=..., client_id=...)
        # -> Verdict(match, distance, threshold, provenance); .proofed; .as_dict()

    challenge = faces.start_challenge(user_id, subject=username, actor=..., ip=...)
        # -> Challenge(id: str, actions: ("turn_left", "turn_right", ...),
        #              expires_at: Unix time); kept in Redis 30 s, usable once; counts
        #              as an attempt towards the throttle
    faces.complete_challenge(user_id, challenge.id, frames: list[bytes],
                             subject=username, exclude=template_ids, **context)
        # -> Verdict; consumes the challenge whatever happens

    except FaceError as exc:  exc.error, exc.message_en, exc.message (the page's language)

Error codes: ``not_an_image``, ``truncated``, ``too_many_pixels``, ``no_face``,
``several_faces``, ``face_too_small`` (the photo: nothing changes, nothing is counted),
``no_template``, ``too_many_templates``, ``bad_frames`` (4 to 24 frames), ``throttled``
(5 failures or started challenges in 15 minutes, the password settings),
``challenge_expired`` (unknown, used, expired or another citizen's challenge),
``challenge_failed`` (the turns, depth or one person throughout were not seen),
``replayed`` (a frame of an earlier attempt); the idp pages also use
``fresh_face_needed``, ``proofed_needed``. A non-matching face is a
``Verdict`` with ``match=False``. Every liveness submission is audited.

Audit events (in the same transaction as the change): ``face.enroll`` (with
``provenance``), ``face.delete``, ``face.challenge``, ``face.verify.success``,
``face.verify.failure`` (``method`` is ``photo`` or ``liveness:<turns>``, ``reason``),
``face.throttled``. ``subject`` is the username the caller passed.

Browser pieces (:mod:`biometrics.web`, registered under ``/biometrics``): the macros in
``biometrics/macros.html`` (``face_script()``, ``enrol_form(url, hidden, labels)``,
``challenge_form(url, challenge, hidden, labels)``) render plain multipart forms (fields
``photo`` and ``frames`` + ``challenge``) that work without JavaScript; any form marked
``data-face-capture="enroll|challenge"`` (a challenge with ``data-actions``) with a file
input gets camera capture from ``face-capture.js`` when the page includes ``face_script()``.

Modules: ``engine`` (decode, detect, landmarks, encode), ``liveness`` (challenge rules),
``replay`` (frames seen before), ``pool`` (the worker process), ``models``, ``service``,
``web``, ``cli``.
What liveness does and does not stop: ``biometrics/README.md``.
"""
