"""Face enrolment and verification on face_recognition, with a liveness challenge.

The API idp (and anything else) uses is :class:`biometrics.service.FaceService`; it takes
plain values, never Flask objects, and raises :class:`biometrics.errors.FaceError`::

    from biometrics.service import FaceService
    from biometrics.errors import FaceError

    faces = FaceService(runtime)                  # face work runs in a worker process
    faces.enroll(user_id, image_bytes, actor=username, ip=ip)  # -> EnrolmentResult
    faces.has_template(user_id) -> bool;  faces.count(user_id) -> int
    faces.delete(user_id, actor=username, ip=ip) -> int       # templates deleted
    faces.verify(user_id, image_bytes, actor=..., ip=..., client_id=...)
        # -> Verdict(match: bool, distance: float, threshold: float); .as_dict()

    challenge = faces.start_challenge(user_id, actor=..., ip=..., client_id=...)
        # -> Challenge(id: str, action: "blink" | "turn_left" | "turn_right",
        #              expires_at: Unix time); kept in Redis 60 s, usable once
    faces.complete_challenge(user_id, challenge.id, frames: list[bytes], **context)
        # -> Verdict; consumes the challenge whatever happens

    except FaceError as exc:  exc.code, exc.message_en, exc.message_zh

Error codes: ``not_an_image``, ``truncated``, ``too_many_pixels``, ``no_face``,
``several_faces``, ``face_too_small`` (the photo: nothing changes, nothing is counted),
``no_template``, ``too_many_templates``, ``bad_frames`` (3 to 20 frames), ``throttled``
(5 failures in 15 minutes, the password settings), ``challenge_expired`` (unknown, used,
expired or another citizen's challenge), ``challenge_failed`` (the action was not seen;
counted as a failure). A non-matching face is a ``Verdict`` with ``match=False``, counted.

Audit events (in the same transaction as the change): ``face.enroll``, ``face.delete``,
``face.verify.success``, ``face.verify.failure`` (``method`` is ``photo`` or
``liveness:<action>``), ``face.throttled``. ``subject`` is the user id.

Browser pieces (:mod:`biometrics.web`, registered under ``/biometrics``): the macros in
``biometrics/macros.html`` (``face_script()``, ``enrol_form(url, hidden, labels)``,
``challenge_form(url, challenge, hidden, labels)``) render plain multipart forms (fields
``photo`` and ``frames`` + ``challenge``) that work without JavaScript; any form marked
``data-face-capture="enroll|blink|turn_left|turn_right"`` with a file input gets camera
capture from ``face-capture.js`` when the page includes ``face_script()``.

Modules: ``engine`` (decode, detect, landmarks, encode), ``liveness`` (challenge rules),
``pool`` (the worker process), ``throttle``, ``models``, ``service``, ``web``, ``cli``.
What liveness does and does not stop: ``biometrics/README.md``.
"""
