# Evaluate the project's Vagrantfile against a recording stand-in for Vagrant's config API and print
# what it configured as JSON. Used by tests/provision/test_vagrantfile.py (no Vagrant, no libvirt).
#
#   ruby vagrantfile_probe.rb /path/to/Vagrantfile
require "json"

class Recorder
  attr_reader :calls, :values, :children

  def initialize
    @calls = []    # [name, args, kwargs] of method calls with arguments
    @values = {}   # name => value of attribute assignments
    @children = {} # name => Recorder for nested blocks
  end

  def method_missing(name, *args, **kwargs, &block)
    key = name.to_s
    if key.end_with?("=")
      @values[key.chomp("=")] = args.first
      return args.first
    end
    if block
      child = Recorder.new
      @children[[key, *args.map(&:to_s)].join(":")] = child
      block.call(child)
      return child
    end
    if args.empty? && kwargs.empty?
      @children[key] ||= Recorder.new
      return @children[key]
    end
    @calls << [key, args, kwargs]
    nil
  end

  def respond_to_missing?(*)
    true
  end

  def to_h
    {
      "calls" => @calls.map { |n, a, k| { "name" => n, "args" => a, "kwargs" => k } },
      "values" => @values,
      "children" => @children.transform_values(&:to_h),
    }
  end
end

module Vagrant
  def self.configure(version)
    raise "unexpected config version #{version}" unless version.to_s == "2"
    root = Recorder.new
    yield root
    (@configs ||= []) << root
  end

  def self.configs
    @configs || []
  end
end

path = ARGV.fetch(0)
# The Vagrantfile aborts with a one-line message on bad input: let that through as exit 1.
load path
puts JSON.generate({ "configs" => Vagrant.configs.map(&:to_h),
                     "constants" => { "ACCEL" => ACCEL, "PREFIX" => PREFIX, "SERIAL_LOG" => SERIAL_LOG,
                                      "LAB_PORTS" => LAB_PORTS } })
