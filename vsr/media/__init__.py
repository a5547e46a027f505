"""Media: everything that touches PyAV (a test checks that nothing outside this package does).

decode (frames to the upscaler, other streams' packets on their own channel), source (the
snapshot of the input the encoder gets), encode, streams (passthrough), transcode, trim (time
ranges), timestamps, hdr, probe, containers, normalize, keyframes, concat, stills, stdio.
Nothing is imported here: PyAV loads when a module that needs it is used.
"""
