"""What the drills share: their result, the faults they inject and mend, the acknowledged-write harness
and refusal probes. Nothing here is a drill; the drills are the modules of sandbox.drills."""
