// Emitter: streams committed text to the caller as segments are committed. It holds
// back what could still be the start of a stop string (the longest stop string's length
// minus one byte) and any incomplete UTF-8 character; when a stop string appears (it may
// span segments) it cuts the generated text and the segments before it and ends the
// generation; Finish flushes what was held back.
#pragma once

#include <coolfusion/engine.h>

#include <string>

namespace coolfusion {

class Emitter {
 public:
  // REQUIRES: opts and cb outlive the emitter.
  Emitter(const GenerateOptions& opts, const SegmentCallback& cb) : opts_(opts), cb_(cb) {}
  // Records a committed segment; `generated` is the whole generated text, ending with
  // seg.text. Returns true when generation must stop: a stop string appeared (generated,
  // out->segments and the segment are cut before it; *reason kStopString), or the
  // callback asked to stop (*reason kCancelled).
  bool OnSegment(std::string& generated, Segment seg, GenerationResult* out, StopReason* reason);
  // Streams what is left once generation has ended.
  void Finish(const std::string& generated, GenerationResult* out);

 private:
  size_t SafeEnd(const std::string& g, bool final) const;
  const GenerateOptions& opts_;
  const SegmentCallback& cb_;
  size_t emitted_ = 0;
};

}  // namespace coolfusion
